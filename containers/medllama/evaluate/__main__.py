from medllama.evaluate import main

raise SystemExit(main())
