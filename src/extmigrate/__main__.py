from extmigrate.cli import main

raise SystemExit(main())
