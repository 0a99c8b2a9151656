"""``python -m framepipe``."""

from framepipe.cli import main

raise SystemExit(main())
