package main

import (
	"bytes"
	"embed"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// The files generated in each adapter folder.
const (
	fileOptions     = "zz_generated_options.go"
	fileRegister    = "zz_generated_register.go"
	fileOptionsTest = "zz_generated_options_test.go"
	fileConformance = "zz_generated_conformance_test.go"
	// DocsFile is the generated docs, relative to the repository root.
	DocsFile = "docs/adapters.md"
)

// generatedFiles are every file name gen may write in an adapter folder.
var generatedFiles = []string{fileOptions, fileRegister, fileOptionsTest, fileConformance}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"sentence": sentence,
	"yesno": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	"capLimit": capLimit,
	// cell escapes the pipes of a Markdown table cell.
	"cell": func(s string) string { return strings.ReplaceAll(s, "|", `\|`) },
	// wrapText wraps a paragraph at 76 bytes.
	"wrapText": func(s string) string { return strings.Join(wrap(s, 76), "\n") },
	// q quotes the concatenation of its arguments as a Go string literal.
	"q": func(parts ...string) string { return strconv.Quote(strings.Join(parts, "")) },
}).ParseFS(templateFS, "templates/*.tmpl"))

// capLimit shows a capability limit in the docs.
func capLimit(c CapLimit, typ string, d *adapterData) string {
	if c.Option != "" {
		for _, o := range d.Opts {
			if o.Name == c.Option {
				where := "`" + o.Name + "`"
				if o.Query != "" {
					where = "`" + o.Query + "`"
				}
				return "the " + where + " option (default " + strings.Trim(o.DocDefault, "`") + ")"
			}
		}
	}
	if c.Value == 0 {
		return "no limit"
	}
	return formatNumber(typ, c.Value)
}

// stdImports are the imports the options template always lists; unused
// ones are removed after rendering.
var stdImports = []string{"net/url", "os", "slices", "time"}

// GenerateAdapter renders the files of one adapter: file name to content.
// A nil content means the file must not exist (the conformance entry of a
// spec with conformance: false).
func GenerateAdapter(s *Spec, module string) (map[string][]byte, error) {
	d := newAdapterData(s, module)
	out := map[string][]byte{}
	for _, f := range []struct{ name, tmpl string }{
		{fileOptions, "options.go.tmpl"},
		{fileRegister, "register.go.tmpl"},
		{fileOptionsTest, "options_test.go.tmpl"},
		{fileConformance, "conformance_test.go.tmpl"},
	} {
		if f.name == fileConformance && !s.Conformance {
			out[f.name] = nil
			continue
		}
		b, err := renderGo(f.tmpl, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.File, f.name, err)
		}
		out[f.name] = b
	}
	return out, nil
}

// GenerateDocs renders docs/adapters.md from every spec.
func GenerateDocs(specs []*Spec, module string) ([]byte, error) {
	var data struct{ Adapters []*adapterData }
	for _, s := range specs {
		data.Adapters = append(data.Adapters, newAdapterData(s, module))
	}
	slices.SortFunc(data.Adapters, func(a, b *adapterData) int { return strings.Compare(a.Scheme, b.Scheme) })
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "adapters.md.tmpl", data); err != nil {
		return nil, fmt.Errorf("%s: %w", DocsFile, err)
	}
	// No trailing spaces, one final newline.
	lines := strings.Split(buf.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	text := strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
	for strings.Contains(text, "\n\n\n") {
		text = strings.ReplaceAll(text, "\n\n\n", "\n\n")
	}
	return []byte(text), nil
}

// renderGo executes a Go template, removes unused standard imports and
// formats the result.
func renderGo(name string, d *adapterData) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, d); err != nil {
		return nil, err
	}
	src, err := pruneImports(buf.Bytes())
	if err != nil {
		return nil, err
	}
	out, err := format.Source(src)
	if err != nil {
		return nil, fmt.Errorf("generated code does not format (a generator bug): %w\n%s", err, numbered(src))
	}
	return out, nil
}

// pruneImports drops the imports of stdImports and of the module's driver,
// opttable and optvalue packages that the file does not use. It removes
// their lines from the text, so that no blank line is left where they were.
func pruneImports(src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "generated.go", src, 0)
	if err != nil {
		return nil, fmt.Errorf("generated code does not parse (a generator bug): %w\n%s", err, numbered(src))
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	drop := map[int]bool{}
	for _, is := range f.Imports {
		path, _ := strconv.Unquote(is.Path.Value)
		if is.Name != nil || !slices.Contains(stdImports, path) && !isModuleImport(path) {
			continue
		}
		if !used[path[strings.LastIndexByte(path, '/')+1:]] {
			drop[fset.Position(is.Pos()).Line] = true
		}
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	out := make([]byte, 0, len(src))
	for i, l := range lines {
		if !drop[i+1] {
			out = append(out, l...)
		}
	}
	return out, nil
}

// isModuleImport reports whether path is one of the module's packages the
// templates import whether or not the file uses them.
func isModuleImport(path string) bool {
	for _, suffix := range []string{"/stream/driver", "/stream/driver/opttable", "/stream/driver/optvalue"} {
		if strings.HasSuffix(path, suffix) {
			return true
		}
	}
	return false
}

// numbered prefixes each line with its number, for generator bug reports.
func numbered(src []byte) string {
	var b strings.Builder
	for i, l := range strings.Split(string(src), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}
