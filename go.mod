module github.com/alignhost/alignhost

go 1.26.8
