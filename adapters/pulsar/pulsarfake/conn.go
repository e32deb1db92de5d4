package pulsarfake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake/internal/pb"
)

// serverProtocolVersion is the highest protocol version the fake speaks.
const serverProtocolVersion = int32(pb.ProtocolVersion_v20)

// conn is one client connection. Its producers and consumers are guarded
// by Broker.mu; the outbound queue by its own mutex.
type conn struct {
	b  *Broker
	nc net.Conn

	// guarded by Broker.mu
	connected bool
	producers map[uint64]*producer
	consumers map[uint64]*consumer

	outMu   sync.Mutex
	out     [][]byte
	outWake chan struct{}
	done    chan struct{}
	once    sync.Once
}

type producer struct {
	id        uint64
	name      string
	topic     *topic
	exclusive bool // Exclusive or WaitForExclusive access
	// failed is set by an injected send failure: the client drops the
	// connection on a SEND_ERROR and resends everything pending, so the
	// sends it already had in flight on this connection must not be
	// stored either, or they would be stored twice and out of order.
	failed *pb.ServerError
}

func newConn(b *Broker, nc net.Conn) *conn {
	return &conn{
		b:         b,
		nc:        nc,
		producers: map[uint64]*producer{},
		consumers: map[uint64]*consumer{},
		outWake:   make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
}

// close shuts the socket; readLoop then cleans up. Safe from any goroutine.
func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.nc.Close()
	})
}

// send queues a command (and the message bytes after it) for the writer.
func (c *conn) send(cmd *pb.BaseCommand, rest []byte) {
	if c.b.log.Enabled(context.Background(), slog.LevelDebug) {
		c.b.log.Debug("pulsarfake: sending", "remote", c.nc.RemoteAddr().String(), "cmd", cmd.String(), "bytes", len(rest))
	}
	f, err := encodeFrame(cmd, rest)
	if err != nil {
		c.b.log.Error("pulsarfake: encode", "err", err)
		c.close()
		return
	}
	c.outMu.Lock()
	c.out = append(c.out, f)
	c.outMu.Unlock()
	select {
	case c.outWake <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	w := bufio.NewWriterSize(c.nc, 64<<10)
	for {
		select {
		case <-c.done:
			return
		case <-c.outWake:
		}
		c.outMu.Lock()
		frames := c.out
		c.out = nil
		c.outMu.Unlock()
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				c.close()
				return
			}
		}
		if err := w.Flush(); err != nil {
			c.close()
			return
		}
	}
}

func (c *conn) readLoop() {
	defer c.cleanup()
	r := bufio.NewReaderSize(c.nc, 64<<10)
	maxFrame := uint32(c.b.cfg.maxMessageSize + 64<<10)
	for {
		cmd, rest, err := readFrame(r, maxFrame)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				select {
				case <-c.done:
				default:
					c.b.log.Warn("pulsarfake: read", "remote", c.nc.RemoteAddr().String(), "err", err)
				}
			}
			return
		}
		c.b.mu.Lock()
		d := c.b.faults.delay
		c.b.mu.Unlock()
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-c.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		if err := c.handle(cmd, rest); err != nil {
			c.b.log.Warn("pulsarfake: closing connection", "remote", c.nc.RemoteAddr().String(), "err", err)
			return
		}
	}
}

// cleanup removes the connection's producers and consumers.
func (c *conn) cleanup() {
	c.close()
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, c)
	for id, p := range c.producers {
		delete(p.topic.producers, p)
		delete(c.producers, id)
	}
	for id, cons := range c.consumers {
		cons.sub.removeConsumer(cons)
		delete(c.consumers, id)
	}
}

func base(t pb.BaseCommand_Type) *pb.BaseCommand { return &pb.BaseCommand{Type: t.Enum()} }

func (c *conn) sendError(reqID uint64, code pb.ServerError, msg string) {
	cmd := base(pb.BaseCommand_ERROR)
	cmd.Error = &pb.CommandError{RequestId: proto.Uint64(reqID), Error: code.Enum(), Message: proto.String(msg)}
	c.send(cmd, nil)
}

func (c *conn) sendSuccess(reqID uint64) {
	cmd := base(pb.BaseCommand_SUCCESS)
	cmd.Success = &pb.CommandSuccess{RequestId: proto.Uint64(reqID)}
	c.send(cmd, nil)
}

// handle runs one command. A returned error closes the connection.
func (c *conn) handle(cmd *pb.BaseCommand, rest []byte) error {
	b := c.b
	if b.log.Enabled(context.Background(), slog.LevelDebug) {
		b.log.Debug("pulsarfake: received", "remote", c.nc.RemoteAddr().String(), "cmd", cmd.String(), "bytes", len(rest))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !c.connected && cmd.GetType() != pb.BaseCommand_CONNECT {
		return fmt.Errorf("%s before CONNECT", cmd.GetType())
	}
	switch cmd.GetType() {
	case pb.BaseCommand_CONNECT:
		return c.handleConnect(cmd.GetConnect())
	case pb.BaseCommand_PING:
		c.send(&pb.BaseCommand{Type: pb.BaseCommand_PONG.Enum(), Pong: &pb.CommandPong{}}, nil)
	case pb.BaseCommand_PONG:
	case pb.BaseCommand_LOOKUP:
		c.handleLookup(cmd.GetLookupTopic())
	case pb.BaseCommand_PARTITIONED_METADATA:
		c.handlePartitionedMetadata(cmd.GetPartitionMetadata())
	case pb.BaseCommand_PRODUCER:
		c.handleProducer(cmd.GetProducer())
	case pb.BaseCommand_SEND:
		return c.handleSend(cmd.GetSend(), rest)
	case pb.BaseCommand_CLOSE_PRODUCER:
		m := cmd.GetCloseProducer()
		if p, ok := c.producers[m.GetProducerId()]; ok {
			delete(p.topic.producers, p)
			delete(c.producers, m.GetProducerId())
		}
		c.sendSuccess(m.GetRequestId())
	case pb.BaseCommand_SUBSCRIBE:
		c.handleSubscribe(cmd.GetSubscribe())
	case pb.BaseCommand_FLOW:
		m := cmd.GetFlow()
		if cons, ok := c.consumers[m.GetConsumerId()]; ok {
			cons.permits += int64(m.GetMessagePermits())
			if !cons.flowed {
				cons.flowed = true
				cons.sub.notifyActive(cons)
			}
			cons.sub.dispatch()
		}
	case pb.BaseCommand_ACK:
		c.handleAck(cmd.GetAck())
	case pb.BaseCommand_REDELIVER_UNACKNOWLEDGED_MESSAGES:
		m := cmd.GetRedeliverUnacknowledgedMessages()
		if cons, ok := c.consumers[m.GetConsumerId()]; ok {
			cons.sub.redeliver(cons, m.GetMessageIds())
		}
	case pb.BaseCommand_SEEK:
		c.handleSeek(cmd.GetSeek())
	case pb.BaseCommand_GET_LAST_MESSAGE_ID:
		c.handleGetLastMessageID(cmd.GetGetLastMessageId())
	case pb.BaseCommand_CLOSE_CONSUMER:
		m := cmd.GetCloseConsumer()
		if cons, ok := c.consumers[m.GetConsumerId()]; ok {
			delete(c.consumers, m.GetConsumerId())
			cons.sub.removeConsumer(cons)
		}
		c.sendSuccess(m.GetRequestId())
	case pb.BaseCommand_UNSUBSCRIBE:
		c.handleUnsubscribe(cmd.GetUnsubscribe())
	case pb.BaseCommand_CONSUMER_STATS:
		m := cmd.GetConsumerStats()
		r := base(pb.BaseCommand_CONSUMER_STATS_RESPONSE)
		r.ConsumerStatsResponse = &pb.CommandConsumerStatsResponse{RequestId: proto.Uint64(m.GetRequestId())}
		if cons, ok := c.consumers[m.GetConsumerId()]; ok {
			r.ConsumerStatsResponse.ConsumerName = proto.String(cons.name)
			r.ConsumerStatsResponse.AvailablePermits = proto.Uint64(uint64(max(cons.permits, 0)))
			r.ConsumerStatsResponse.UnackedMessages = proto.Uint64(uint64(cons.sub.unackedOf(cons)))
			r.ConsumerStatsResponse.MsgBacklog = proto.Uint64(uint64(cons.sub.backlog()))
			r.ConsumerStatsResponse.Type = proto.String(cons.sub.typ.String())
		} else {
			r.ConsumerStatsResponse.ErrorCode = pb.ServerError_ConsumerNotFound.Enum()
			r.ConsumerStatsResponse.ErrorMessage = proto.String("consumer not found")
		}
		c.send(r, nil)
	case pb.BaseCommand_GET_TOPICS_OF_NAMESPACE:
		m := cmd.GetGetTopicsOfNamespace()
		r := base(pb.BaseCommand_GET_TOPICS_OF_NAMESPACE_RESPONSE)
		r.GetTopicsOfNamespaceResponse = &pb.CommandGetTopicsOfNamespaceResponse{
			RequestId: proto.Uint64(m.GetRequestId()),
			Topics:    b.topicsOfNamespaceLocked(m.GetNamespace(), m.GetMode()),
			Changed:   proto.Bool(true),
		}
		c.send(r, nil)
	case pb.BaseCommand_GET_OR_CREATE_SCHEMA:
		m := cmd.GetGetOrCreateSchema()
		r := base(pb.BaseCommand_GET_OR_CREATE_SCHEMA_RESPONSE)
		r.GetOrCreateSchemaResponse = &pb.CommandGetOrCreateSchemaResponse{RequestId: proto.Uint64(m.GetRequestId())}
		t, code, err := b.topicForUseLocked(m.GetTopic())
		if err != nil {
			r.GetOrCreateSchemaResponse.ErrorCode = code.Enum()
			r.GetOrCreateSchemaResponse.ErrorMessage = proto.String(err.Error())
		} else {
			r.GetOrCreateSchemaResponse.SchemaVersion = t.putSchema(m.GetSchema())
		}
		c.send(r, nil)
	case pb.BaseCommand_GET_SCHEMA:
		m := cmd.GetGetSchema()
		r := base(pb.BaseCommand_GET_SCHEMA_RESPONSE)
		r.GetSchemaResponse = &pb.CommandGetSchemaResponse{RequestId: proto.Uint64(m.GetRequestId())}
		full, _ := fullTopicName(m.GetTopic())
		if t, ok := b.topics[full]; ok && t.schema != nil {
			r.GetSchemaResponse.Schema = t.schema
			r.GetSchemaResponse.SchemaVersion = schemaVersion0()
		} else {
			r.GetSchemaResponse.ErrorCode = pb.ServerError_TopicNotFound.Enum()
			r.GetSchemaResponse.ErrorMessage = proto.String("schema not found")
		}
		c.send(r, nil)
	default:
		// Unknown requests with a request id get an error so the client does
		// not wait; everything else is ignored.
		c.b.log.Debug("pulsarfake: unsupported command", "type", cmd.GetType().String())
		if id, ok := requestIDOf(cmd); ok {
			c.sendError(id, pb.ServerError_NotAllowedError, "pulsarfake does not support "+cmd.GetType().String())
		}
	}
	return nil
}

// requestIDOf finds the request_id field of the command's body, if any.
func requestIDOf(cmd *pb.BaseCommand) (uint64, bool) {
	var id uint64
	found := false
	cmd.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		m := v.Message()
		f := m.Descriptor().Fields().ByName("request_id")
		if f != nil && m.Has(f) {
			id, found = m.Get(f).Uint(), true
			return false
		}
		return true
	})
	return id, found
}

func (c *conn) handleConnect(m *pb.CommandConnect) error {
	if c.connected {
		return errors.New("second CONNECT")
	}
	c.connected = true
	v := m.GetProtocolVersion()
	if v > serverProtocolVersion {
		v = serverProtocolVersion
	}
	r := base(pb.BaseCommand_CONNECTED)
	r.Connected = &pb.CommandConnected{
		ServerVersion:   proto.String("pulsarfake"),
		ProtocolVersion: proto.Int32(v),
		MaxMessageSize:  proto.Int32(int32(c.b.cfg.maxMessageSize)),
		FeatureFlags:    &pb.FeatureFlags{},
	}
	c.send(r, nil)
	return nil
}

func (c *conn) lookupFault() bool {
	if c.b.faults.failLookups > 0 {
		c.b.faults.failLookups--
		return true
	}
	return false
}

func (c *conn) handleLookup(m *pb.CommandLookupTopic) {
	r := base(pb.BaseCommand_LOOKUP_RESPONSE)
	resp := &pb.CommandLookupTopicResponse{RequestId: proto.Uint64(m.GetRequestId())}
	r.LookupTopicResponse = resp
	if _, err := fullTopicName(m.GetTopic()); err != nil {
		resp.Response = pb.CommandLookupTopicResponse_Failed.Enum()
		resp.Error = pb.ServerError_InvalidTopicName.Enum()
		resp.Message = proto.String(err.Error())
	} else if c.lookupFault() {
		resp.Response = pb.CommandLookupTopicResponse_Failed.Enum()
		resp.Error = pb.ServerError_ServiceNotReady.Enum()
		resp.Message = proto.String("pulsarfake: injected lookup failure")
	} else {
		resp.Response = pb.CommandLookupTopicResponse_Connect.Enum()
		resp.BrokerServiceUrl = proto.String("pulsar://" + c.b.ln.Addr().String())
		resp.Authoritative = proto.Bool(true)
		resp.ProxyThroughServiceUrl = proto.Bool(false)
	}
	c.send(r, nil)
}

func (c *conn) handlePartitionedMetadata(m *pb.CommandPartitionedTopicMetadata) {
	r := base(pb.BaseCommand_PARTITIONED_METADATA_RESPONSE)
	resp := &pb.CommandPartitionedTopicMetadataResponse{RequestId: proto.Uint64(m.GetRequestId())}
	r.PartitionMetadataResponse = resp
	n, err := c.b.partitionsLocked(m.GetTopic())
	switch {
	case err != nil:
		resp.Response = pb.CommandPartitionedTopicMetadataResponse_Failed.Enum()
		resp.Error = pb.ServerError_InvalidTopicName.Enum()
		resp.Message = proto.String(err.Error())
	case c.lookupFault():
		resp.Response = pb.CommandPartitionedTopicMetadataResponse_Failed.Enum()
		resp.Error = pb.ServerError_ServiceNotReady.Enum()
		resp.Message = proto.String("pulsarfake: injected lookup failure")
	default:
		resp.Response = pb.CommandPartitionedTopicMetadataResponse_Success.Enum()
		resp.Partitions = proto.Uint32(uint32(n))
	}
	c.send(r, nil)
}

func (c *conn) handleProducer(m *pb.CommandProducer) {
	b := c.b
	if _, ok := c.producers[m.GetProducerId()]; ok {
		// A repeated PRODUCER (client retry) for a live producer succeeds again.
		p := c.producers[m.GetProducerId()]
		c.sendProducerSuccess(m.GetRequestId(), p)
		return
	}
	t, code, err := b.topicForUseLocked(m.GetTopic())
	if err != nil {
		c.sendError(m.GetRequestId(), code, err.Error())
		return
	}
	exclusive := m.GetProducerAccessMode() != pb.ProducerAccessMode_Shared
	for other := range t.producers {
		if exclusive || other.exclusive {
			c.sendError(m.GetRequestId(), pb.ServerError_ProducerFenced,
				fmt.Sprintf("topic %s has producer %s and %s access was asked", t.name, other.name, m.GetProducerAccessMode()))
			return
		}
	}
	name := m.GetProducerName()
	if name == "" {
		b.nextName++
		name = fmt.Sprintf("pulsarfake-%d", b.nextName)
	}
	if m.Schema != nil {
		t.putSchema(m.Schema)
	}
	p := &producer{id: m.GetProducerId(), name: name, topic: t, exclusive: exclusive}
	c.producers[p.id] = p
	t.producers[p] = struct{}{}
	c.sendProducerSuccess(m.GetRequestId(), p)
}

func (c *conn) sendProducerSuccess(reqID uint64, p *producer) {
	r := base(pb.BaseCommand_PRODUCER_SUCCESS)
	r.ProducerSuccess = &pb.CommandProducerSuccess{
		RequestId:      proto.Uint64(reqID),
		ProducerName:   proto.String(p.name),
		LastSequenceId: proto.Int64(-1),
		TopicEpoch:     proto.Uint64(0),
		ProducerReady:  proto.Bool(true),
	}
	if p.topic.schema != nil {
		r.ProducerSuccess.SchemaVersion = schemaVersion0()
	}
	c.send(r, nil)
}

func (c *conn) handleSend(m *pb.CommandSend, rest []byte) error {
	b := c.b
	p, ok := c.producers[m.GetProducerId()]
	sendErr := func(code pb.ServerError, msg string) {
		r := base(pb.BaseCommand_SEND_ERROR)
		r.SendError = &pb.CommandSendError{
			ProducerId: proto.Uint64(m.GetProducerId()),
			SequenceId: proto.Uint64(m.GetSequenceId()),
			Error:      code.Enum(),
			Message:    proto.String(msg),
		}
		c.send(r, nil)
	}
	if !ok {
		sendErr(pb.ServerError_NotAllowedError, fmt.Sprintf("producer %d is not registered on this connection", m.GetProducerId()))
		return nil
	}
	if len(rest) == 0 {
		return fmt.Errorf("SEND from producer %d (sequence %d) without a message", m.GetProducerId(), m.GetSequenceId())
	}
	if p.failed != nil {
		sendErr(*p.failed, "pulsarfake: an earlier send of this producer failed on this connection")
		return nil
	}
	if b.faults.failSends > 0 {
		b.faults.failSends--
		code := b.faults.sendErr
		p.failed = &code
		sendErr(code, "pulsarfake: injected send failure")
		return nil
	}
	pm, err := parseMessage(rest)
	if err != nil {
		sendErr(pb.ServerError_ChecksumError, err.Error())
		return nil
	}
	e, err := p.topic.append(b, rest, pm)
	if err != nil {
		sendErr(pb.ServerError_PersistenceError, err.Error())
		return nil
	}
	r := base(pb.BaseCommand_SEND_RECEIPT)
	r.SendReceipt = &pb.CommandSendReceipt{
		ProducerId:        proto.Uint64(p.id),
		SequenceId:        proto.Uint64(m.GetSequenceId()),
		MessageId:         &pb.MessageIdData{LedgerId: proto.Uint64(p.topic.ledger), EntryId: proto.Uint64(uint64(e.id))},
		HighestSequenceId: proto.Uint64(m.GetHighestSequenceId()),
	}
	c.send(r, nil)
	for _, s := range p.topic.subs {
		s.dispatch()
	}
	return nil
}

func (c *conn) handleSubscribe(m *pb.CommandSubscribe) {
	b := c.b
	if cons, ok := c.consumers[m.GetConsumerId()]; ok {
		if cons.sub.t.name == mustFull(m.GetTopic()) && cons.sub.name == m.GetSubscription() {
			c.sendSuccess(m.GetRequestId())
			return
		}
		c.sendError(m.GetRequestId(), pb.ServerError_ServiceNotReady, fmt.Sprintf("consumer id %d is in use on this connection", m.GetConsumerId()))
		return
	}
	if m.GetSubscription() == "" {
		c.sendError(m.GetRequestId(), pb.ServerError_InvalidTopicName, "empty subscription name")
		return
	}
	t, code, err := b.topicForUseLocked(m.GetTopic())
	if err != nil {
		c.sendError(m.GetRequestId(), code, err.Error())
		return
	}
	cons, code, err := t.subscribe(c, m)
	if err != nil {
		c.sendError(m.GetRequestId(), code, err.Error())
		return
	}
	c.consumers[cons.id] = cons
	c.sendSuccess(m.GetRequestId())
	cons.sub.consumersChanged()
	cons.sub.dispatch()
}

func mustFull(name string) string {
	f, err := fullTopicName(name)
	if err != nil {
		return name
	}
	return f
}

func (c *conn) handleAck(m *pb.CommandAck) {
	cons, ok := c.consumers[m.GetConsumerId()]
	var ackErr error
	if ok {
		ackErr = cons.sub.ack(cons, m)
	} else {
		ackErr = fmt.Errorf("consumer %d not found", m.GetConsumerId())
	}
	if m.RequestId != nil {
		r := base(pb.BaseCommand_ACK_RESPONSE)
		r.AckResponse = &pb.CommandAckResponse{ConsumerId: proto.Uint64(m.GetConsumerId()), RequestId: proto.Uint64(m.GetRequestId())}
		if ackErr != nil {
			r.AckResponse.Error = pb.ServerError_ConsumerNotFound.Enum()
			r.AckResponse.Message = proto.String(ackErr.Error())
		}
		c.send(r, nil)
	}
	if ok {
		cons.sub.dispatch()
	}
}

func (c *conn) handleSeek(m *pb.CommandSeek) {
	cons, ok := c.consumers[m.GetConsumerId()]
	if !ok {
		c.sendError(m.GetRequestId(), pb.ServerError_ConsumerNotFound, fmt.Sprintf("consumer %d not found", m.GetConsumerId()))
		return
	}
	s := cons.sub
	var pos int64
	switch {
	case m.MessageId != nil:
		pos = s.t.positionOf(m.MessageId)
	case m.MessagePublishTime != nil:
		pos = s.t.positionAtTime(m.GetMessagePublishTime())
	default:
		c.sendError(m.GetRequestId(), pb.ServerError_MetadataError, "SEEK without message_id or message_publish_time")
		return
	}
	s.resetTo(pos)
	c.sendSuccess(m.GetRequestId())
	// As Pulsar does, disconnect every consumer of the subscription so
	// that they subscribe again from the new position.
	for _, other := range append([]*consumer(nil), s.consumers...) {
		cc := base(pb.BaseCommand_CLOSE_CONSUMER)
		cc.CloseConsumer = &pb.CommandCloseConsumer{ConsumerId: proto.Uint64(other.id), RequestId: proto.Uint64(0)}
		other.c.send(cc, nil)
		delete(other.c.consumers, other.id)
		s.removeConsumer(other)
	}
}

func (c *conn) handleGetLastMessageID(m *pb.CommandGetLastMessageId) {
	cons, ok := c.consumers[m.GetConsumerId()]
	if !ok {
		c.sendError(m.GetRequestId(), pb.ServerError_ConsumerNotFound, fmt.Sprintf("consumer %d not found", m.GetConsumerId()))
		return
	}
	t := cons.sub.t
	last := &pb.MessageIdData{LedgerId: proto.Uint64(t.ledger), EntryId: proto.Uint64(^uint64(0)), Partition: proto.Int32(t.partition)}
	if n := len(t.entries); n > 0 {
		e := t.entries[n-1]
		last.EntryId = proto.Uint64(uint64(e.id))
		if e.batched {
			last.BatchIndex = proto.Int32(e.numMsgs - 1)
		} else {
			last.BatchIndex = proto.Int32(-1)
		}
	}
	r := base(pb.BaseCommand_GET_LAST_MESSAGE_ID_RESPONSE)
	r.GetLastMessageIdResponse = &pb.CommandGetLastMessageIdResponse{
		RequestId:     proto.Uint64(m.GetRequestId()),
		LastMessageId: last,
		ConsumerMarkDeletePosition: &pb.MessageIdData{
			LedgerId: proto.Uint64(t.ledger),
			EntryId:  proto.Uint64(uint64(cons.sub.markDelete)),
		},
	}
	c.send(r, nil)
}

func (c *conn) handleUnsubscribe(m *pb.CommandUnsubscribe) {
	cons, ok := c.consumers[m.GetConsumerId()]
	if !ok {
		c.sendError(m.GetRequestId(), pb.ServerError_ConsumerNotFound, fmt.Sprintf("consumer %d not found", m.GetConsumerId()))
		return
	}
	s := cons.sub
	if len(s.consumers) > 1 && !m.GetForce() {
		c.sendError(m.GetRequestId(), pb.ServerError_MetadataError,
			fmt.Sprintf("subscription %s has %d consumers: close the others first or force", s.name, len(s.consumers)))
		return
	}
	for _, other := range append([]*consumer(nil), s.consumers...) {
		if other != cons {
			cc := base(pb.BaseCommand_CLOSE_CONSUMER)
			cc.CloseConsumer = &pb.CommandCloseConsumer{ConsumerId: proto.Uint64(other.id), RequestId: proto.Uint64(0)}
			other.c.send(cc, nil)
		}
		delete(other.c.consumers, other.id)
		s.removeConsumer(other)
	}
	s.t.deleteSub(c.b, s)
	c.sendSuccess(m.GetRequestId())
}
