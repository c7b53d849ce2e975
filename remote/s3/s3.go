// Package s3 is pcache's S3 backend: a program that imports it (import _
// "github.com/pcache/pcache/remote/s3") can use s3://BUCKET/PREFIX remotes.
//
// Like a database/sql driver, the package registers itself with package
// remote when it is imported; without it a program is spared the AWS SDK
// (megabytes of binary and of build time), and an s3:// remote is refused
// with an error naming the import to add. pcache-fsck always includes it.
//
// The endpoint, region and credentials come from the standard AWS chain
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
// AWS_PROFILE, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3, shared config
// files, instance roles); a URL's query may set the region and endpoint
// (s3://BUCKET/PREFIX?region=eu-west-1&endpoint=http://minio.lan:9000),
// never the credentials. With a custom endpoint (an S3-compatible server),
// requests use path-style addressing and the region defaults to us-east-1.
package s3

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pcache/pcache/internal/remote"
)

func init() { remote.Register("s3", open) }

// backend keeps blobs as objects of one bucket under a prefix.
type backend struct {
	client         *awss3.Client
	creds          aws.CredentialsProvider // to name the access key id of a refused request
	bucket, prefix string
	endpoint       string // from the URL's query, if it named one
}

// params are what a URL's query may set.
type params struct{ region, endpoint string }

// parseQuery reads the query of an s3:// URL: region and endpoint, each at
// most once; anything else is refused (a mistyped parameter must not be
// ignored, and credentials have no parameter).
func parseQuery(shown, raw string) (params, error) {
	var p params
	q, err := url.ParseQuery(raw)
	if err != nil {
		return p, fmt.Errorf("remote: %q: bad query: want ?region=R&endpoint=URL", shown)
	}
	for k, vs := range q {
		if slices.Contains(vs, "") {
			// No name repeated: a bare ?WORD may be a credential pasted in.
			return p, fmt.Errorf("remote: %q: a query parameter without a value (want ?region=R&endpoint=URL)", shown)
		}
		if len(vs) != 1 && (k == "region" || k == "endpoint") {
			return p, fmt.Errorf("remote: %q: query parameter %q given %d times", shown, k, len(vs))
		}
		switch k {
		case "region":
			p.region = vs[0]
		case "endpoint":
			ep, err := url.Parse(vs[0])
			switch {
			case err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "":
				return p, fmt.Errorf("remote: %q: endpoint: want http://HOST[:PORT] or https://HOST[:PORT]", shown)
			case ep.User != nil:
				return p, fmt.Errorf("remote: %q: endpoint: credentials do not go in the URL (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)", shown)
			case ep.RawQuery != "" || ep.ForceQuery || ep.Fragment != "":
				return p, fmt.Errorf("remote: %q: endpoint: a server's URL has no query or fragment", shown)
			}
			p.endpoint = vs[0]
		default:
			return p, fmt.Errorf("remote: %q: unknown query parameter %q (an s3 URL takes region and endpoint; credentials come from the AWS variables)", shown, k)
		}
	}
	return p, nil
}

// open makes the backend of an s3://BUCKET[/PREFIX][?region=R&endpoint=URL]
// URL. Checksums are sent and checked only where S3 requires them, which
// S3-compatible servers need.
func open(ctx context.Context, u *url.URL) (remote.Backend, error) {
	shown := remote.RedactURL(u.String())
	if u.Host == "" {
		return nil, fmt.Errorf("remote: %q: no bucket (want s3://BUCKET/PREFIX)", shown)
	}
	if strings.Contains(u.Host, ":") {
		return nil, fmt.Errorf("remote: %q: a bucket name has no port (a server goes in ?endpoint=URL or $AWS_ENDPOINT_URL)", shown)
	}
	p, err := parseQuery(shown, u.RawQuery)
	if err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryMaxAttempts(2),
	}
	if p.region != "" {
		opts = append(opts, config.WithRegion(p.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("remote: %q: AWS configuration: %w", shown, err)
	}
	custom := p.endpoint != "" || cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.UsePathStyle = custom
		if p.endpoint != "" {
			o.BaseEndpoint = aws.String(p.endpoint) // the URL's, over the variables'
		}
	})
	return &backend{client: client, creds: cfg.Credentials, bucket: u.Host, prefix: strings.Trim(u.Path, "/"), endpoint: p.endpoint}, nil
}

// String is the backend's URL: the bucket, the prefix and an endpoint the
// URL named (another server is another remote: the tier keys its local
// state by this name). It holds no credentials: open refuses them.
func (b *backend) String() string {
	s := "s3://" + b.bucket
	if b.prefix != "" {
		s += "/" + b.prefix
	}
	if b.endpoint != "" {
		s += "?endpoint=" + url.QueryEscape(b.endpoint)
	}
	return s
}

func (b *backend) key(k string) string {
	if b.prefix == "" {
		return k
	}
	return b.prefix + "/" + k
}
