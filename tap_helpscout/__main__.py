from tap_helpscout.cli import main

main()
