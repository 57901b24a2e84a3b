module github.com/bindery-dev/bindery/cli

go 1.25.0
