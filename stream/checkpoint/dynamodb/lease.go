package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// LoadLease returns the lease of key, or a free lease with Counter 0 if none
// was stored (see checkpoint.Leaser).
func (s *Store) LoadLease(ctx context.Context, key checkpoint.Key) (*checkpoint.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: load lease %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	item, err := s.getItem(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: load lease %s from table %s: %w", key, s.table, err)
	}
	l, err := decodeLease(s.table, key, item)
	if err != nil || l != nil {
		if l != nil {
			s.rememberLease(key, leaseAttrs(item))
		}
		return l, err
	}
	return &checkpoint.Lease{Key: key}, nil
}

// ListLeases returns the stored leases of consumer on stream, sorted by
// partition (see checkpoint.Leaser).
func (s *Store) ListLeases(ctx context.Context, consumer, stream string) ([]*checkpoint.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: list leases %s/%s: %w", consumer, stream, err)
	}
	if err := checkpoint.ValidateGroup(consumer, stream); err != nil {
		return nil, err
	}
	items, err := s.query(ctx, consumer, stream)
	if err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint store: list leases %s/%s in table %s: %w", consumer, stream, s.table, err)
	}
	var out []*checkpoint.Lease
	for _, item := range items {
		part, err := s.partitionOf(consumer, stream, item)
		if err != nil {
			return nil, err
		}
		l, err := decodeLease(s.table, checkpoint.Key{Consumer: consumer, Stream: stream, Partition: part}, item)
		if err != nil {
			return nil, err
		}
		if l != nil {
			s.rememberLease(l.Key, leaseAttrs(item))
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// AcquireLease gives l to owner until expires if the stored counter equals
// l.Counter (see checkpoint.Leaser).
func (s *Store) AcquireLease(ctx context.Context, l *checkpoint.Lease, owner string, expires time.Time) error {
	return checkpoint.LeaseSwap(s.swapLease).Acquire(ctx, l, owner, expires)
}

// RenewLease extends l to expires if the stored counter equals l.Counter
// (see checkpoint.Leaser).
func (s *Store) RenewLease(ctx context.Context, l *checkpoint.Lease, expires time.Time) error {
	return checkpoint.LeaseSwap(s.swapLease).Renew(ctx, l, expires)
}

// ReleaseLease frees l if the stored counter equals l.Counter (see
// checkpoint.Leaser).
func (s *Store) ReleaseLease(ctx context.Context, l *checkpoint.Lease) error {
	return checkpoint.LeaseSwap(s.swapLease).Release(ctx, l)
}

// swapLease reads and decodes the stored lease, compares its counter, and
// writes ch.Next with a condition that the lease attributes are still
// exactly what it read.
func (s *Store) swapLease(ctx context.Context, l *checkpoint.Lease, ch *checkpoint.LeaseChange) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynamodb checkpoint store: %s %s: %w", ch.Op, l.Key, err)
	}
	// The lease attributes as last read or written by this store, if their
	// counter is the expected one; otherwise read and decode them.
	s.mu.Lock()
	item, ok := s.seenLease[l.Key]
	s.mu.Unlock()
	var cur *checkpoint.Lease
	if c, isN := item[attrCounter].(*types.AttributeValueMemberN); ok && isN && ch.Expect > 0 && c.Value == num(ch.Expect).Value {
		cur = &checkpoint.Lease{Counter: ch.Expect}
	} else {
		var err error
		item, err = s.getItem(ctx, l.Key)
		if err != nil {
			return fmt.Errorf("dynamodb checkpoint store: %s %s: read table %s: %w", ch.Op, l.Key, s.table, err)
		}
		cur, err = decodeLease(s.table, l.Key, item)
		if err != nil {
			return err
		}
	}
	var counter uint64
	if cur != nil {
		counter = cur.Counter
	}
	if counter != ch.Expect {
		return ch.Conflict(counter)
	}
	names := map[string]string{"#lc": attrCounter, "#lo": attrOwner, "#lx": attrExpires}
	values := map[string]types.AttributeValue{":nlc": num(ch.Next.Counter)}
	update := "SET #lc = :nlc REMOVE #lo, #lx"
	if ch.Next.Owner != "" {
		update = "SET #lc = :nlc, #lo = :nlo, #lx = :nlx"
		values[":nlo"] = str(ch.Next.Owner)
		values[":nlx"] = str(formatTime(ch.Next.Expires))
	}
	// The condition: the lease attributes are exactly what was decoded.
	cond := "attribute_not_exists(#lc) AND attribute_not_exists(#lo) AND attribute_not_exists(#lx)"
	if cur != nil {
		cond = "#lc = :olc"
		values[":olc"] = item[attrCounter]
		for _, a := range []struct{ name, ph string }{{"#lo", ":olo"}, {"#lx", ":olx"}} {
			attr := names[a.name]
			if v, ok := item[attr]; ok {
				cond += " AND " + a.name + " = " + a.ph
				values[a.ph] = v
			} else {
				cond += " AND attribute_not_exists(" + a.name + ")"
			}
		}
	}
	_, err := s.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       itemKey(l.Key),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil {
		s.forgetLease(l.Key)
	}
	switch {
	case errors.As(err, &ccf):
		// Changed since read: say how.
		item, rerr := s.getItem(ctx, l.Key)
		if rerr != nil {
			return fmt.Errorf("%w: %s %s: the conditional write was refused, and reading the item to see why failed: %w", checkpoint.ErrLeaseConflict, ch.Op, l.Key, rerr)
		}
		now, derr := decodeLease(s.table, l.Key, item)
		if derr != nil {
			return derr
		}
		var c uint64
		if now != nil {
			c = now.Counter
		}
		return ch.Conflict(c)
	case err != nil:
		return fmt.Errorf("dynamodb checkpoint store: %s %s in table %s: %w", ch.Op, l.Key, s.table, classify(err))
	}
	written := map[string]types.AttributeValue{attrCounter: values[":nlc"]}
	if ch.Next.Owner != "" {
		written[attrOwner], written[attrExpires] = values[":nlo"], values[":nlx"]
	}
	s.rememberLease(l.Key, written)
	ch.Apply(l)
	return nil
}

// rememberLease keeps the lease attributes of key as stored, so that the
// next write of the lease needs no read; it is keyed by the exact counter.
func (s *Store) rememberLease(key checkpoint.Key, attrs map[string]types.AttributeValue) {
	s.mu.Lock()
	s.seenLease[key] = attrs
	s.mu.Unlock()
}

// leaseAttrs returns the lease attributes of a decoded item.
func leaseAttrs(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for _, a := range []string{attrCounter, attrOwner, attrExpires} {
		if v, ok := item[a]; ok {
			out[a] = v
		}
	}
	return out
}

func (s *Store) forgetLease(key checkpoint.Key) {
	s.mu.Lock()
	delete(s.seenLease, key)
	s.mu.Unlock()
}
