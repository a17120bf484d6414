"""``python -m themekit``: the same command line as ``themekit``."""

from themekit.cli import main

if __name__ == "__main__":
    main()
