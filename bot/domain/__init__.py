"""Pure rules of the game: no Discord objects, no SQL, easy to test."""
