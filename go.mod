module github.com/unistream-go/unistream

go 1.26
