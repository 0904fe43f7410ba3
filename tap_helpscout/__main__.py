from tap_helpscout.cli.main import main

main()
