package consumer

import (
	"context"
	"fmt"
	"io"

	"github.com/iseed-dev/iseed/schema"
)

// tenantFiles confines file references to one bucket, so that a tenant
// cannot have iseed read (and send upstream) another tenant's files.
type tenantFiles struct {
	src    schema.FileSource
	bucket string
}

// Open implements schema.FileSource.
func (f tenantFiles) Open(ctx context.Context, bucket, name string) (io.ReadCloser, schema.FileInfo, error) {
	if bucket != f.bucket {
		return nil, schema.FileInfo{}, fmt.Errorf("%w: bucket %s is not this tenant's (%s)", schema.ErrFileNotFound, bucket, f.bucket)
	}
	return f.src.Open(ctx, bucket, name)
}
