package consumer

import (
	"context"
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
		return nil, schema.FileInfo{}, &schema.ForeignBucketError{Bucket: bucket, Own: f.bucket}
	}
	return f.src.Open(ctx, bucket, name)
}
