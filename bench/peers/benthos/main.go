// Benthos 4.24.0 with only the components the benchmark uses: the peer Surge is measured against.
package main

import (
	"context"

	_ "github.com/benthosdev/benthos/v4/public/components/hdfs"
	_ "github.com/benthosdev/benthos/v4/public/components/io"
	_ "github.com/benthosdev/benthos/v4/public/components/kafka"
	_ "github.com/benthosdev/benthos/v4/public/components/pure"
	_ "github.com/benthosdev/benthos/v4/public/components/pure/extended"
	"github.com/benthosdev/benthos/v4/public/service"
)

func main() {
	service.RunCLI(context.Background())
}
