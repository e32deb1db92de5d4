package dlq

// SetMaxLineBytes lowers the line limit for a test and returns the restore
// function.
func SetMaxLineBytes(n int) (restore func()) {
	old := maxLineBytes
	maxLineBytes = n
	return func() { maxLineBytes = old }
}
