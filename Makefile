# Thin wrappers over ./run, for people who type make.
.PHONY: test demo down lint quick bench setup
test demo down lint quick bench setup:
	./run $@
