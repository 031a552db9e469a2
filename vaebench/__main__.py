from vaebench.cli import main

raise SystemExit(main())
