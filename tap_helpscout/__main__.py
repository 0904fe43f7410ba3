from tap_helpscout import main

main()
