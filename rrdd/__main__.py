from rrdd.cli import main

raise SystemExit(main())
