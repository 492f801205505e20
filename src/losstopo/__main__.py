"""Allow ``python -m losstopo``."""

from losstopo.cli import main

raise SystemExit(main())
