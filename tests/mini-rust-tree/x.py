#!/usr/bin/env python3
# Entry point of the mini rust tree's bootstrap; see README.md and src/bootstrap/mini_bootstrap.py.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "bootstrap"))

import mini_bootstrap  # noqa: E402

if __name__ == "__main__":
    sys.exit(mini_bootstrap.main(sys.argv[1:]))
