module github.com/bindery-dev/bindery/konnector

go 1.25.0
