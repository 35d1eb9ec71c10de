from medllama.train import main

raise SystemExit(main())
