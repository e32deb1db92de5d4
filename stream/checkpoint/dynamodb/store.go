package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Store is a checkpoint.Store and checkpoint.Leaser on one DynamoDB table.
// It is safe for concurrent use, and any number of processes may share a
// table.
//
// # Table
//
// The table's key is pk (S, partition key) and sk (S, sort key). pk is
// "consumer/stream" with '%' and '/' in each part escaped as %25 and %2F,
// so List and ListLeases are one Query; sk is the partition. An item holds:
//
//	version        N  the checkpoint's compare-and-swap version
//	checkpoint     S  the checkpoint as checkpoint.EncodeDocument writes it:
//	                  {"format":1,"checkpoint":{...}}
//	lease_counter  N  the lease counter
//	lease_owner    S  the lease owner (absent when released)
//	lease_expires  S  the lease expiry, RFC 3339 UTC with nanoseconds
//
// The checkpoint and the lease of a partition share the item but are
// written by separate UpdateItem calls that touch only their own
// attributes, so they never interfere.
//
// # Compare-and-swap
//
// Save is one UpdateItem whose ConditionExpression requires the stored
// version to be the caller's and the stored document to be the one this
// store last read or wrote for the key (attribute_not_exists for version
// 0). The store keeps that document per key, so a Save never overwrites
// data it has not decoded: when it has not seen the stored document yet it
// reads it first. A failed condition is diagnosed by reading the item: a
// corrupt item gives checkpoint.ErrCorrupt, any other an error matching
// checkpoint.ErrConflict that names both versions. Lease writes work the
// same way on the lease attributes: a renew of a lease this store wrote is
// one UpdateItem.
//
// Reads are strongly consistent.
//
// # Bad data
//
// An item whose attributes have the wrong types, whose document cannot be
// decoded, or whose document disagrees with its key or version makes Load,
// Save and List return an error matching checkpoint.ErrCorrupt that names
// the table, the key and what was expected. A corrupt item is never
// overwritten.
//
// # Errors
//
// Errors are classified for checkpoint.IsPermanent. A failed condition
// matches checkpoint.ErrConflict; a checkpoint larger than an item holds
// (refused by Save before it is sent, or by DynamoDB's ValidationException
// on the item size) matches checkpoint.ErrTooLarge; credentials or
// permissions refused (AccessDeniedException, UnrecognizedClientException,
// the signature errors), a missing table (ResourceNotFoundException) and
// other ValidationExceptions are permanent. Throttling, server errors,
// network errors and a done context are transient.
type Store struct {
	client *ddb.Client
	table  string
	http   *http.Client // ours to close; nil with WithClient
	// pageLimit, if set, caps the items of one Query page (tests use it to
	// exercise pagination).
	pageLimit int32

	mu   sync.Mutex
	seen map[checkpoint.Key]stored // last document read or written per key
	// seenLease holds the lease attributes last read or written per key.
	seenLease map[checkpoint.Key]map[string]types.AttributeValue
}

var (
	_ checkpoint.Store  = (*Store)(nil)
	_ checkpoint.Leaser = (*Store)(nil)
)

// newConfig checks the table name and applies the options: everything New
// checks before it connects.
func newConfig(table string, opts []Option) (config, error) {
	var c config
	if !validTable(table) {
		return c, &OptionError{Option: "table", Value: fmt.Sprintf("%q", table), Expected: "a DynamoDB table name: 3 to 255 letters, digits, '_', '-' or '.'"}
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// New returns a store on table. It checks that the table exists with the
// expected key schema (creating it with WithCreateTable), and returns an
// error naming the table and the expected schema otherwise.
func New(ctx context.Context, table string, opts ...Option) (*Store, error) {
	c, err := newConfig(table, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{table: table, client: c.client,
		seen: map[checkpoint.Key]stored{}, seenLease: map[checkpoint.Key]map[string]types.AttributeValue{}}
	if s.client == nil {
		var lo []func(*awsconfig.LoadOptions) error
		if c.region != "" {
			lo = append(lo, awsconfig.WithRegion(c.region))
		}
		if c.creds != nil {
			lo = append(lo, awsconfig.WithCredentialsProvider(c.creds))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, lo...)
		if err != nil {
			return nil, fmt.Errorf("dynamodb checkpoint store: load AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			return nil, &OptionError{Option: "WithRegion", Value: `""`, Expected: "an AWS region (WithRegion, AWS_REGION or the shared config)"}
		}
		s.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		s.client = ddb.NewFromConfig(cfg, func(o *ddb.Options) {
			o.HTTPClient = s.http
			if c.endpoint != "" {
				o.BaseEndpoint = aws.String(c.endpoint)
			}
		})
	}
	if err := s.ensureTable(ctx, c); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// validTable reports whether name is a valid DynamoDB table name.
func validTable(name string) bool {
	if len(name) < 3 || len(name) > 255 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// Client returns the DynamoDB client the store uses.
func (s *Store) Client() *ddb.Client { return s.client }

// Close releases the store's idle connections. It does not delete
// anything.
func (s *Store) Close() error {
	if s.http != nil {
		s.http.CloseIdleConnections()
	}
	return nil
}

// MaxDocumentBytes is the largest encoded checkpoint Save writes: the
// 400 KB DynamoDB item limit less room for the key and lease attributes.
// Save refuses a larger one with an error matching checkpoint.ErrTooLarge.
const MaxDocumentBytes = 400*1024 - 8*1024

// schemaExpected describes the key schema in errors.
const schemaExpected = `partition key "pk" (S) and sort key "sk" (S)`

func (s *Store) ensureTable(ctx context.Context, c config) error {
	out, err := s.client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(s.table)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf) && c.createTable:
		_, err := s.client.CreateTable(ctx, &ddb.CreateTableInput{
			TableName: aws.String(s.table),
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
			},
			BillingMode: types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: created meanwhile
			return fmt.Errorf("dynamodb checkpoint store: create table %s: %w", s.table, classify(err))
		}
		w := ddb.NewTableExistsWaiter(s.client, func(o *ddb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * 1e6
			o.MaxDelay = 2 * 1e9
		})
		out, err = w.WaitForOutput(ctx, &ddb.DescribeTableInput{TableName: aws.String(s.table)}, c.createTimeout)
		if err != nil {
			return fmt.Errorf("dynamodb checkpoint store: wait for table %s to become active: %w", s.table, err)
		}
	case errors.As(err, &nf):
		return fmt.Errorf("dynamodb checkpoint store: table %s does not exist (expected a table with %s; or pass WithCreateTable): %w", s.table, schemaExpected, classify(err))
	case err != nil:
		return fmt.Errorf("dynamodb checkpoint store: describe table %s: %w", s.table, classify(err))
	}
	return checkSchema(s.table, out.Table)
}

// checkSchema verifies the table's key schema.
func checkSchema(table string, d *types.TableDescription) error {
	if d == nil {
		return fmt.Errorf("dynamodb checkpoint store: describe table %s: no table description in the reply", table)
	}
	attrType := map[string]types.ScalarAttributeType{}
	for _, a := range d.AttributeDefinitions {
		attrType[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	var hash, rng string
	for _, k := range d.KeySchema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	if hash != attrPK || rng != attrSK || attrType[attrPK] != types.ScalarAttributeTypeS || attrType[attrSK] != types.ScalarAttributeTypeS {
		return checkpoint.Permanent(fmt.Errorf("dynamodb checkpoint store: table %s has partition key %q (%s) and sort key %q (%s) (expected %s)",
			table, hash, attrType[hash], rng, attrType[rng], schemaExpected))
	}
	return nil
}

// getItem reads the item of key, strongly consistent; nil if missing. Its
// errors are classified (see classify).
func (s *Store) getItem(ctx context.Context, key checkpoint.Key) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, classify(err)
	}
	return out.Item, nil
}

func (s *Store) remember(key checkpoint.Key, st stored) {
	s.mu.Lock()
	s.seen[key] = stored{doc: st.doc, cp: &checkpoint.Checkpoint{Version: st.cp.Version}}
	s.mu.Unlock()
}

func (s *Store) forget(key checkpoint.Key) {
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
}

// Load returns the checkpoint of key, or a new Checkpoint{Key: key} with
// Version 0 if none was saved (see checkpoint.Store).
func (s *Store) Load(ctx context.Context, key checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: load %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	item, err := s.getItem(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: load %s from table %s: %w", key, s.table, err)
	}
	st, err := decodeCheckpoint(s.table, key, item)
	if err != nil {
		return nil, err
	}
	if st.cp == nil {
		return &checkpoint.Checkpoint{Key: key}, nil
	}
	s.remember(key, st)
	return st.cp, nil
}

// Save writes cp if the stored version equals cp.Version (0: none may be
// stored), then increments cp.Version (see checkpoint.Store and the type's
// documentation). After an error other than a conflict, corruption or
// invalid argument, whether the item was written is unknown: Load again.
func (s *Store) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if err := cp.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynamodb checkpoint store: save %s: %w", cp.Key, err)
	}
	next := *cp // shallow: encoded only
	next.Version++
	doc, err := checkpoint.EncodeDocument(&next)
	if err != nil {
		return fmt.Errorf("dynamodb checkpoint store: save %s: encode: %w", cp.Key, err)
	}
	if len(doc) > MaxDocumentBytes {
		return fmt.Errorf("dynamodb checkpoint store: save %s: %w: the encoded checkpoint is %d bytes (expected at most %d: a DynamoDB item holds at most 400 KB; use smaller batches)",
			cp.Key, checkpoint.ErrTooLarge, len(doc), MaxDocumentBytes)
	}
	docStr := string(doc) // one copy, sent and kept
	in := &ddb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              itemKey(cp.Key),
		UpdateExpression: aws.String("SET #v = :nv, #c = :nc"),
		ExpressionAttributeNames: map[string]string{
			"#v": attrVersion, "#c": attrCheckpoint,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":nv": num(next.Version), ":nc": str(docStr),
		},
	}
	if cp.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#v) AND attribute_not_exists(#c)")
	} else {
		s.mu.Lock()
		prev, ok := s.seen[cp.Key]
		s.mu.Unlock()
		if !ok || prev.cp.Version != cp.Version {
			// Not seen at this version: read and decode what is stored.
			item, err := s.getItem(ctx, cp.Key)
			if err != nil {
				return fmt.Errorf("dynamodb checkpoint store: save %s: read table %s: %w", cp.Key, s.table, err)
			}
			st, err := decodeCheckpoint(s.table, cp.Key, item)
			if err != nil {
				return err
			}
			var version uint64
			if st.cp != nil {
				version = st.cp.Version
			}
			if version != cp.Version {
				return checkpoint.ConflictError(cp.Key, cp.Version, version)
			}
			prev = st
		}
		in.ConditionExpression = aws.String("#v = :ov AND #c = :oc")
		in.ExpressionAttributeValues[":ov"] = num(cp.Version)
		in.ExpressionAttributeValues[":oc"] = str(prev.doc)
	}
	if _, err := s.client.UpdateItem(ctx, in); err != nil {
		s.forget(cp.Key)
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return fmt.Errorf("dynamodb checkpoint store: save %s to table %s: %w", cp.Key, s.table, classify(err))
		}
		return s.diagnose(ctx, cp.Key, cp.Version)
	}
	s.remember(cp.Key, stored{cp: &next, doc: docStr})
	cp.Version++
	return nil
}

// diagnose explains a failed Save condition by reading the item.
func (s *Store) diagnose(ctx context.Context, key checkpoint.Key, expected uint64) error {
	item, err := s.getItem(ctx, key)
	if err != nil {
		return fmt.Errorf("%w: %s: the conditional write was refused, and reading the item to see why failed: %w", checkpoint.ErrConflict, key, err)
	}
	st, err := decodeCheckpoint(s.table, key, item)
	if err != nil {
		return err
	}
	var version uint64
	if st.cp != nil {
		version = st.cp.Version
	}
	return checkpoint.RefusedSaveError(key, expected, version)
}

// query returns every item of consumer on stream, sorted by partition. Its
// errors are classified (see classify).
func (s *Store) query(ctx context.Context, consumer, stream string) ([]map[string]types.AttributeValue, error) {
	in := &ddb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(groupKey(consumer, stream))},
		ConsistentRead:            aws.Bool(true),
	}
	if s.pageLimit > 0 {
		in.Limit = aws.Int32(s.pageLimit)
	}
	p := ddb.NewQueryPaginator(s.client, in)
	var items []map[string]types.AttributeValue
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err)
		}
		items = append(items, out.Items...)
	}
	return items, nil
}

// partitionOf returns the sort key of an item returned by query.
func (s *Store) partitionOf(consumer, stream string, item map[string]types.AttributeValue) (string, error) {
	sk, ok := item[attrSK].(*types.AttributeValueMemberS)
	if !ok || sk.Value == "" {
		return "", fmt.Errorf("%w: table %s: an item of %s/%s has sort key %q of type %s (expected a non-empty string, the partition)",
			checkpoint.ErrCorrupt, s.table, consumer, stream, attrSK, typeName(item[attrSK]))
	}
	return sk.Value, nil
}

// List returns the saved checkpoints of consumer on stream, sorted by
// partition (see checkpoint.Store). It reads every page of the Query.
func (s *Store) List(ctx context.Context, consumer, stream string) ([]*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: list %s/%s: %w", consumer, stream, err)
	}
	if err := checkpoint.ValidateGroup(consumer, stream); err != nil {
		return nil, err
	}
	items, err := s.query(ctx, consumer, stream)
	if err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: list %s/%s in table %s: %w", consumer, stream, s.table, err)
	}
	var out []*checkpoint.Checkpoint
	for _, item := range items {
		part, err := s.partitionOf(consumer, stream, item)
		if err != nil {
			return nil, err
		}
		key := checkpoint.Key{Consumer: consumer, Stream: stream, Partition: part}
		st, err := decodeCheckpoint(s.table, key, item)
		if err != nil {
			return nil, err
		}
		if st.cp != nil {
			s.remember(key, st)
			out = append(out, st.cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
