from vglint.cli import main

main()
