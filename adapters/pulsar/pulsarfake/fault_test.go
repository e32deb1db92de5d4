package pulsarfake

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake/internal/pb"
)

// rawClient speaks the protocol by hand, for tests that need exact frames.
type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc}
}

func (r *rawClient) write(cmd *pb.BaseCommand, rest []byte) {
	r.t.Helper()
	f, err := encodeFrame(cmd, rest)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.nc.Write(f); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) read() (*pb.BaseCommand, []byte) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	cmd, rest, err := readFrame(r.nc, 1<<24)
	if err != nil {
		r.t.Fatal(err)
	}
	return cmd, rest
}

func (r *rawClient) connect() {
	r.t.Helper()
	r.write(&pb.BaseCommand{Type: pb.BaseCommand_CONNECT.Enum(), Connect: &pb.CommandConnect{ClientVersion: proto.String("raw"), ProtocolVersion: proto.Int32(20)}}, nil)
	cmd, _ := r.read()
	if cmd.GetType() != pb.BaseCommand_CONNECTED {
		r.t.Fatalf("CONNECT answered with %s", cmd.GetType())
	}
}

// message builds [magic][crc][meta_size][meta][payload].
func message(meta *pb.MessageMetadata, payload []byte) []byte {
	m, _ := proto.Marshal(meta)
	body := binary.BigEndian.AppendUint32(nil, uint32(len(m)))
	body = append(body, m...)
	body = append(body, payload...)
	out := binary.BigEndian.AppendUint16(nil, magicCRC32C)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(body, crcTable))
	return append(out, body...)
}

func startRaw(t *testing.T, opts ...Option) *Broker {
	t.Helper()
	b, err := NewBroker(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b, err := NewBroker(WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, b.Addr())
	r.connect()
	r.write(&pb.BaseCommand{Type: pb.BaseCommand_PING.Enum(), Ping: &pb.CommandPing{}}, nil)
	if cmd, _ := r.read(); cmd.GetType() != pb.BaseCommand_PONG {
		t.Fatalf("PING answered with %s", cmd.GetType())
	}
	b.SetDelay(time.Hour) // a command stuck in a delay must not hold Close
	r.write(&pb.BaseCommand{Type: pb.BaseCommand_PING.Enum(), Ping: &pb.CommandPing{}}, nil)
	time.Sleep(50 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Start(context.Background()); err == nil {
		t.Fatal("Start after Close: no error")
	}
	r.nc.Close()
}

func TestSendProtocol(t *testing.T) {
	b := startRaw(t)
	r := dialRaw(t, b.Addr())
	r.connect()
	r.write(&pb.BaseCommand{Type: pb.BaseCommand_PRODUCER.Enum(), Producer: &pb.CommandProducer{Topic: proto.String("raw"), ProducerId: proto.Uint64(7), RequestId: proto.Uint64(1)}}, nil)
	if cmd, _ := r.read(); cmd.GetType() != pb.BaseCommand_PRODUCER_SUCCESS || cmd.GetProducerSuccess().GetProducerName() == "" {
		t.Fatalf("PRODUCER answered with %v", cmd)
	}
	sendCmd := func(seq uint64) *pb.BaseCommand {
		return &pb.BaseCommand{Type: pb.BaseCommand_SEND.Enum(), Send: &pb.CommandSend{ProducerId: proto.Uint64(7), SequenceId: proto.Uint64(seq), NumMessages: proto.Int32(1)}}
	}
	meta := &pb.MessageMetadata{ProducerName: proto.String("raw"), SequenceId: proto.Uint64(0), PublishTime: proto.Uint64(1000)}
	good := message(meta, []byte("payload"))
	for seq := uint64(0); seq < 3; seq++ {
		r.write(sendCmd(seq), good)
	}
	for seq := uint64(0); seq < 3; seq++ {
		cmd, _ := r.read()
		rc := cmd.GetSendReceipt()
		if cmd.GetType() != pb.BaseCommand_SEND_RECEIPT || rc.GetSequenceId() != seq || rc.GetMessageId().GetEntryId() != seq {
			t.Fatalf("receipt %d: %v", seq, cmd)
		}
	}
	// A corrupted checksum is refused with SEND_ERROR and not stored.
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0xff
	r.write(sendCmd(3), bad)
	cmd, _ := r.read()
	if cmd.GetType() != pb.BaseCommand_SEND_ERROR || cmd.GetSendError().GetError() != pb.ServerError_ChecksumError {
		t.Fatalf("corrupted message answered with %v", cmd)
	}
	// Injected failures.
	b.FailSends(1, ErrPersistence)
	r.write(sendCmd(3), good)
	cmd, _ = r.read()
	if cmd.GetType() != pb.BaseCommand_SEND_ERROR || cmd.GetSendError().GetError() != pb.ServerError_PersistenceError {
		t.Fatalf("injected failure answered with %v", cmd)
	}
	if n, _ := b.MessageCount("raw"); n != 3 {
		t.Fatalf("MessageCount = %d, want 3", n)
	}
	// An unsupported request gets an error, not silence.
	r.write(&pb.BaseCommand{Type: pb.BaseCommand_NEW_TXN.Enum(), NewTxn: &pb.CommandNewTxn{RequestId: proto.Uint64(9)}}, nil)
	cmd, _ = r.read()
	if cmd.GetType() != pb.BaseCommand_ERROR || cmd.GetError().GetRequestId() != 9 {
		t.Fatalf("unsupported request answered with %v", cmd)
	}
}

func TestBadFramesCloseTheConnection(t *testing.T) {
	b := startRaw(t)
	cases := map[string][]byte{
		"huge":          {0x7f, 0xff, 0xff, 0xff},
		"cmd too large": {0, 0, 0, 8, 0, 0, 0, 100, 1, 2, 3, 4},
		"garbage":       {0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xff},
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, b.Addr())
			if _, err := r.nc.Write(frame); err != nil {
				t.Fatal(err)
			}
			_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := r.nc.Read(make([]byte, 1)); err == nil {
				t.Fatal("connection still open after a bad frame")
			}
		})
	}
	// A command before CONNECT closes the connection too.
	r := dialRaw(t, b.Addr())
	r.write(&pb.BaseCommand{Type: pb.BaseCommand_PING.Enum(), Ping: &pb.CommandPing{}}, nil)
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after PING before CONNECT")
	}
	// The broker still serves others.
	ok := dialRaw(t, b.Addr())
	ok.connect()
}

func TestOptionsAndNamesAreChecked(t *testing.T) {
	bad := []Option{WithAddr("nonsense"), WithHTTPAddr(""), WithDataDir(""), WithLogger(nil), WithMaxMessageSize(10), nil}
	for i, o := range bad {
		if _, err := NewBroker(o); err == nil {
			t.Errorf("option %d: no error", i)
		}
	}
	b := startRaw(t, WithAutoCreateTopics(false))
	for _, tc := range []struct {
		name  string
		parts int
	}{{"", 0}, {"a/b", 0}, {"x://a/b/c", 0}, {"ok", -1}, {"ok-partition-1", 2}} {
		if err := b.CreateTopic(tc.name, tc.parts); err == nil {
			t.Errorf("CreateTopic(%q, %d): no error", tc.name, tc.parts)
		}
	}
	if err := b.CreateTopic("plain", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateTopic("plain", 2); err == nil {
		t.Error("CreateTopic of a non-partitioned topic with partitions: no error")
	}
	// Without auto-creation, an unknown topic is refused.
	r := dialRaw(t, b.Addr())
	r.connect()
	r.write(&pb.BaseCommand{Type: pb.BaseCommand_PRODUCER.Enum(), Producer: &pb.CommandProducer{Topic: proto.String("unknown"), ProducerId: proto.Uint64(1), RequestId: proto.Uint64(1)}}, nil)
	cmd, _ := r.read()
	if cmd.GetType() != pb.BaseCommand_ERROR || cmd.GetError().GetError() != pb.ServerError_TopicNotFound {
		t.Fatalf("PRODUCER on an unknown topic: %v", cmd)
	}
	if _, err := b.MessageCount("unknown"); err == nil {
		t.Error("MessageCount of an unknown topic: no error")
	}
	if _, err := b.Backlog("plain", "nosub"); err == nil {
		t.Error("Backlog of an unknown subscription: no error")
	}
}

func TestDamagedJournal(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBroker(WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateTopic("j", 2); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, journalFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A record cut short at the end (an interrupted write) is dropped.
	if err := os.WriteFile(path, append(bytes.Clone(data), 0, 0, 0, 50, '{'), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err = NewBroker(WithDataDir(dir))
	if err != nil {
		t.Fatalf("journal with a torn tail: %v", err)
	}
	if got := b.Topics(); len(got) != 1 || !strings.HasSuffix(got[0], "/j") {
		t.Fatalf("Topics after reload = %v", got)
	}
	_ = b.Close()
	// Damage in a complete record is an error naming the file.
	damaged := bytes.Clone(data)
	damaged[5] = '!'
	if err := os.WriteFile(path, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewBroker(WithDataDir(dir)); err == nil || !strings.Contains(err.Error(), journalFile) {
		t.Fatalf("damaged journal: %v, want an error naming %s", err, journalFile)
	}
}

func FuzzParseFrame(f *testing.F) {
	ping, _ := encodeFrame(&pb.BaseCommand{Type: pb.BaseCommand_PING.Enum(), Ping: &pb.CommandPing{}}, nil)
	send, _ := encodeFrame(&pb.BaseCommand{Type: pb.BaseCommand_SEND.Enum(), Send: &pb.CommandSend{ProducerId: proto.Uint64(1), SequenceId: proto.Uint64(1)}},
		message(&pb.MessageMetadata{ProducerName: proto.String("p"), SequenceId: proto.Uint64(1), PublishTime: proto.Uint64(1), NumMessagesInBatch: proto.Int32(2)}, []byte{0, 0, 0, 2, 0x2a, 0x00, 'x'}))
	f.Add(ping[4:])
	f.Add(send[4:])
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		cmd, rest, err := parseFrameBody(body)
		if err != nil {
			return
		}
		if cmd.Type == nil {
			t.Fatal("parsed a command without a type")
		}
		if rest != nil {
			_, _ = parseMessage(rest)
		}
		// What parses must encode and parse back.
		again, err := encodeFrame(cmd, rest)
		if err != nil {
			return
		}
		if _, _, err := readFrame(bytes.NewReader(again), uint32(len(again))); err != nil {
			t.Fatalf("re-encoded frame does not parse: %v", err)
		}
	})
}
