import sys

from tests.fake_discord.cli import main

sys.exit(main())
