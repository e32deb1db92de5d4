package wal

// chunkSize is the size of the group buffer's chunks: a group of up to
// chunkSize bytes is written with one write.
const chunkSize = 1 << 20

// freeChunks bounds the chunks kept for reuse.
const freeChunks = 8

// group is the group buffer: frames appended and not yet written, in
// chunks that are reused, so that a growing group never copies what it
// holds and a steady log allocates nothing.
type group struct {
	chunks [][]byte
	n      int
	free   [][]byte
}

// appendFrame appends a frame of at most bound bytes with enc, which
// appends to its argument and, on error, returns it unchanged.
func (g *group) appendFrame(bound int, enc func([]byte) ([]byte, error)) (int, error) {
	var c []byte
	last := len(g.chunks) - 1
	if last >= 0 && cap(g.chunks[last])-len(g.chunks[last]) >= bound {
		c = g.chunks[last]
	} else {
		last = -1
		if bound <= chunkSize && len(g.free) > 0 {
			c = g.free[len(g.free)-1]
			g.free = g.free[:len(g.free)-1]
		} else {
			c = make([]byte, 0, max(chunkSize, bound))
		}
	}
	out, err := enc(c)
	if err != nil {
		if last < 0 {
			g.recycle1(c)
		}
		return 0, err
	}
	if last >= 0 {
		g.chunks[last] = out
	} else {
		g.chunks = append(g.chunks, out)
	}
	n := len(out) - len(c)
	g.n += n
	return n, nil
}

// take removes and returns the chunks.
func (g *group) take() [][]byte {
	cs := g.chunks
	g.chunks, g.n = nil, 0
	return cs
}

// prepend puts chunks that could not be written back in front.
func (g *group) prepend(cs [][]byte) {
	for _, c := range cs {
		g.n += len(c)
	}
	g.chunks = append(cs, g.chunks...)
}

// recycle keeps written chunks for reuse.
func (g *group) recycle(cs [][]byte) {
	for _, c := range cs {
		g.recycle1(c)
	}
}

func (g *group) recycle1(c []byte) {
	if cap(c) == chunkSize && len(g.free) < freeChunks {
		g.free = append(g.free, c[:0])
	}
}

// drop empties the group.
func (g *group) drop() { g.recycle(g.take()) }

// recordFrameBound bounds the size of r's frame.
func recordFrameBound(idLen, keyLen, valueLen int, headerBytes, headers int) int {
	return FrameHeaderSize + 8 + 3*binaryMaxVarint + idLen + keyLen + valueLen + binaryMaxVarint +
		headers*2*binaryMaxVarint + headerBytes + 1 + 2*binaryMaxVarint
}

// ackFrameBound bounds the size of an ack frame of n numbers.
func ackFrameBound(n int) int { return FrameHeaderSize + binaryMaxVarint + 2*binaryMaxVarint*n }

const binaryMaxVarint = 10
