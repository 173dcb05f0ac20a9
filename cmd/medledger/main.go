// Command medledger runs and operates medledger nodes. See
// "medledger help" and the README.
package main

import (
	"os"

	"github.com/medledger/medledger/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
