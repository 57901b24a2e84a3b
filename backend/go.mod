module github.com/bindery-dev/bindery/backend

go 1.25.0
