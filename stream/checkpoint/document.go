package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Helpers for stores outside this package (the DynamoDB store), so that
// every store validates, encodes and reports conflicts the same way.

// ValidateGroup validates the consumer and stream arguments of Store.List
// and Leaser.ListLeases. Its error is permanent (IsPermanent).
func ValidateGroup(consumer, stream string) error { return checkGroup(consumer, stream) }

// Validate reports the first reason c cannot be stored: an invalid key, an
// unknown record status or a negative count. Stores call it before writing
// and after decoding. Its error is permanent (IsPermanent).
func (c *Checkpoint) Validate() error {
	if c == nil {
		return Permanent(errors.New("checkpoint: nil checkpoint (expected a checkpoint to save)"))
	}
	return c.check()
}

// ConflictError returns the error matching ErrConflict of a Save that
// expected version expected while stored is stored (0: none stored).
func ConflictError(key Key, expected, stored uint64) error { return conflict(key, expected, stored) }

// RefusedSaveError returns the error matching ErrConflict of a Save whose
// conditional write (on the version and on the document the store last
// read) the backend refused, once the store has read the data again and
// found version stored (0: none stored). If stored is the version the
// Save expected, the document changed at that version: another process
// wrote it.
func RefusedSaveError(key Key, expected, stored uint64) error {
	if stored == expected {
		return fmt.Errorf("%w: %s: version %d is stored but its document changed since this store read it (written by another process at the same version)", ErrConflict, key, stored)
	}
	return conflict(key, expected, stored)
}

// EncodeDocument returns the compact JSON form of cp, the document the file
// store writes: {"format": 1, "checkpoint": {...}} (see FileFormat).
func EncodeDocument(cp *Checkpoint) ([]byte, error) {
	return json.Marshal(fileDoc{Format: FileFormat, Checkpoint: cp})
}

// DecodeDocument decodes a document written by EncodeDocument (or a
// checkpoint file). where names the data in errors (a file path, a table
// item); every error matches ErrCorrupt and says what was expected.
func DecodeDocument(where string, data []byte) (*Checkpoint, error) {
	return decodeAny(where, data)
}
