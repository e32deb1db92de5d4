package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// permanentClasses are the SQLSTATE classes (the first two characters)
// that retrying cannot cure: an operator must act.
var permanentClasses = map[string]string{
	"0A": "feature not supported",
	"22": "data exception",
	"23": "integrity constraint violation",
	"28": "invalid authorization specification",
	"2B": "dependent privilege descriptors still exist",
	"3D": "invalid catalog name",
	"3F": "invalid schema name",
	"42": "syntax error or access rule violation",
	"44": "with check option violation",
	"F0": "configuration file error",
	"P0": "PL/pgSQL error",
}

// tooLargeCodes are the SQLSTATEs that say a value does not fit: the
// checkpoint (or its key) is too large for the table.
var tooLargeCodes = map[string]bool{
	"22001": true, // string_data_right_truncation: value too long for the column
	"54000": true, // program_limit_exceeded: index row or field too large
}

// classify marks an error of pgx with its class for checkpoint.IsPermanent,
// by the SQLSTATE of a *pgconn.PgError:
//
//   - 22001 (value too long) and 54000 (program limit exceeded, such as an
//     index row larger than a B-tree page allows) match
//     checkpoint.ErrTooLarge;
//   - the classes of permanentClasses are marked checkpoint.Permanent:
//     28 (authentication refused), 42 (insufficient privilege, undefined
//     table or column, syntax), 3D (no such database), 3F (no such
//     schema), 22 (data exception, such as a key that the database
//     encoding cannot hold), 23 (a constraint an operator added), 0A;
//   - everything else is transient: 08 (connection exception), 40
//     (serialization failure, deadlock), 53 (insufficient resources, too
//     many connections, disk full), 55 (lock not available), 57 (operator
//     intervention: query cancelled, server shutting down or starting),
//     58 (system error), XX (internal error), 25006 (read-only
//     transaction: a standby, as during a failover), a SQLSTATE this store
//     does not know, network and connection errors, and a done context.
//
// The error keeps its message and still matches pgx's types.
func classify(err error) error {
	var pg *pgconn.PgError
	if err == nil || !errors.As(err, &pg) {
		return err
	}
	return classifyCode(pg.Code, err)
}

// classifyCode classifies err by the SQLSTATE code.
func classifyCode(code string, err error) error {
	switch {
	case tooLargeCodes[code]:
		return fmt.Errorf("%w (a row holds the checkpoint document and its key; keys are indexed and must stay well under 2,700 bytes): %w", checkpoint.ErrTooLarge, err)
	case len(code) == 5 && permanentClasses[code[:2]] != "":
		return checkpoint.Permanent(err)
	}
	return err
}
