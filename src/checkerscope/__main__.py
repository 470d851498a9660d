from checkerscope.cli import main

raise SystemExit(main())
