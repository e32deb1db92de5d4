package main

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/unistream-go/unistream/stream/driver/optvalue"
)

// adapterData is what the templates of one adapter see.
type adapterData struct {
	*Spec
	// Module is the module path, for imports of the module's packages.
	Module string
	// Prefix starts every error of the adapter ("memstream: ").
	Prefix string
	// Form is the first URL form, quoted in errors.
	Form string
	// ValidKeys lists the URL query keys, sorted ("none" if there are none).
	ValidKeys string
	// Opts are the options with their generated code.
	Opts []*optData
	// Consts are the generated constants.
	Consts []constData
	// Imports and ModImports are extra imports of custom option types:
	// standard library paths and others.
	Imports, ModImports []string
	// HasEnv and HasQuery say whether any option has an environment
	// variable or a query key.
	HasEnv, HasQuery bool
	// Caps are the Capabilities field expressions.
	Caps capData
	// Seeds are extra fuzz seeds.
	Seeds []string
	// Secrets are the secret options, for the fuzz test's leak check.
	Secrets []*optData
	// ImportPath is the adapter package's import path.
	ImportPath string
	// Anchor is the docs heading's anchor.
	Anchor string
}

type capData struct {
	MaxBatchRecords, MaxBatchBytes, MaxRecordBytes string
}

// optData is one option with the Go code the templates paste.
type optData struct {
	*OptionSpec
	// ID is the option's index constant.
	ID string
	// Field is the Go type of the field; Param the functional option's
	// parameter type.
	Field, Param string
	// Expected is the form of a valid value, with constraints.
	Expected string
	// Kind names the opttable constructor of the field's value (Int,
	// SecretString, Custom...).
	Kind string
	// Check is the func literal that checks the value; "" for none.
	Check string
	// DefaultExpr is the Go expression of the default; empty for the zero value.
	DefaultExpr string
	// FieldDoc and WithDoc are the doc comments, without "// ".
	FieldDoc, WithDoc []string
	// Assign is the statement of the functional option's body.
	Assign string
	// How says how to set the option, for the "required" error.
	How string
	// DocDefault and DocValid are the docs table cells.
	DocDefault, DocValid, DocType string
	// Sets lists where the option can be set, for the docs.
	DocQuery, DocEnv, DocWith string
}

type constData struct {
	Doc   string
	Name  string
	Value string
}

// sentence makes a doc phrase a sentence: a capital letter and a period.
func sentence(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:] + "."
}

// phrase makes a doc phrase read after "X is": no final period.
func phrase(s string) string {
	return strings.TrimSuffix(strings.TrimSpace(s), ".")
}

// newAdapterData computes the template data of a spec.
func newAdapterData(s *Spec, module string) *adapterData {
	d := &adapterData{
		Spec: s, Module: module, Prefix: s.Package + ": ", Form: s.URL.Forms[0],
		ImportPath: module + "/" + s.Dir,
		Anchor:     anchor(s.Title + " (" + s.Scheme + ")"),
	}
	var keys []string
	imports := map[string]bool{}
	for _, o := range s.Options {
		od := newOptData(o)
		d.Opts = append(d.Opts, od)
		if o.Query != "" {
			keys = append(keys, o.Query)
			d.HasQuery = true
		}
		if o.Env != "" {
			d.HasEnv = true
		}
		if o.Secret {
			d.Secrets = append(d.Secrets, od)
		}
		for _, imp := range o.Imports {
			if !slices.Contains(stdImports, imp) {
				imports[imp] = true
			}
		}
		if o.HasDefault && o.Type != typeStrings {
			d.Consts = append(d.Consts, constData{
				Doc:   fmt.Sprintf("Default%s is the default of %s.", o.Name, o.Name),
				Name:  "Default" + o.Name,
				Value: constExpr(o, o.Default),
			})
		}
		if o.MaxConst != "" {
			d.Consts = append(d.Consts, constData{
				Doc:   fmt.Sprintf("%s is the largest valid %s.", o.MaxConst, o.Name),
				Name:  o.MaxConst,
				Value: constExpr(o, o.Max),
			})
		}
		if o.Query != "" {
			d.Seeds = append(d.Seeds, s.Scheme+"://x?"+o.Query+"="+url.QueryEscape(o.Default), s.Scheme+"://x?"+o.Query+"=%00")
		}
	}
	d.ValidKeys = "none"
	if len(keys) > 0 {
		d.ValidKeys = strings.Join(sortedKeys(setOf(keys)), ", ")
	}
	for _, imp := range sortedKeys(imports) {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			d.ModImports = append(d.ModImports, imp)
		} else {
			d.Imports = append(d.Imports, imp)
		}
	}
	limit := func(c CapLimit) string {
		if c.Option != "" {
			return "o." + c.Option
		}
		return strconv.FormatInt(c.Value, 10)
	}
	d.Caps = capData{limit(s.Capabilities.MaxBatchRecords), limit(s.Capabilities.MaxBatchBytes), limit(s.Capabilities.MaxRecordBytes)}
	return d
}

func setOf(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// constExpr is the Go constant expression of a value in URL syntax.
func constExpr(o *OptionSpec, text string) string {
	switch o.Type {
	case typeInt:
		v, _ := parseNumber(o.Type, text)
		return strconv.FormatInt(v, 10)
	case typeInt64:
		v, _ := parseNumber(o.Type, text)
		return "int64(" + strconv.FormatInt(v, 10) + ")"
	case typeSize:
		v, _ := parseNumber(o.Type, text)
		if s := optvalue.FormatSize(v); s != strconv.FormatInt(v, 10)+"B" {
			return strconv.FormatInt(v, 10) + " // " + s
		}
		return strconv.FormatInt(v, 10)
	case typeDuration:
		v, _ := parseNumber(o.Type, text)
		return durationExpr(time.Duration(v))
	case typeBool:
		b, _ := strconv.ParseBool(text)
		return strconv.FormatBool(b)
	}
	return strconv.Quote(text)
}

// durationExpr writes d as a multiple of its largest exact unit.
func durationExpr(d time.Duration) string {
	if d == 0 {
		return "time.Duration(0)"
	}
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"Hour", time.Hour}, {"Minute", time.Minute}, {"Second", time.Second}, {"Millisecond", time.Millisecond}, {"Microsecond", time.Microsecond}} {
		if d%u.d == 0 {
			return fmt.Sprintf("%d * time.%s", d/u.d, u.name)
		}
	}
	return fmt.Sprintf("%d * time.Nanosecond", d)
}

// newOptData computes the generated code and the docs of one option.
func newOptData(o *OptionSpec) *optData {
	od := &optData{OptionSpec: o, ID: "option" + o.Name, Expected: expected(o), How: howToSet(o)}
	od.Field, od.Kind = goType(o)
	od.Param, od.Assign = od.Field, "o."+o.Name+" = v"
	if o.Type == typeStrings {
		od.Param, od.Assign = "...string", "o."+o.Name+" = slices.Clone(v)"
	}
	od.Check = checkExpr(o)
	od.DefaultExpr = defaultExpr(o)
	setDocCells(od)
	od.FieldDoc, od.WithDoc = docComments(od)
	return od
}

// valueKinds are the Go field type and the opttable value constructor of
// each option type but custom.
var valueKinds = map[string]struct{ field, kind string }{
	typeInt:      {"int", "Int"},
	typeInt64:    {"int64", "Int64"},
	typeSize:     {"int", "Size"},
	typeDuration: {"time.Duration", "Duration"},
	typeBool:     {"bool", "Bool"},
	typeString:   {"string", "String"},
	typeEnum:     {"string", "String"},
	typeStrings:  {"[]string", "List"},
}

// goType is the Go type of o's field and the opttable constructor of its
// value (Int, SecretString, Custom...).
func goType(o *OptionSpec) (field, kind string) {
	if o.Type == typeCustom {
		return o.GoType, "Custom"
	}
	k := valueKinds[o.Type]
	if o.Secret {
		return k.field, "Secret" + k.kind
	}
	return k.field, k.kind
}

// checkExpr is the func literal that checks o's bounds, allowed values and
// required non-emptiness; "" when any value is valid.
func checkExpr(o *OptionSpec) string {
	f := "o." + o.Name
	var conds []string
	if o.minV != nil {
		conds = append(conds, fmt.Sprintf("%s >= %d", f, *o.minV))
	}
	if o.maxV != nil {
		conds = append(conds, fmt.Sprintf("%s <= %d", f, *o.maxV))
	}
	if o.Required && (o.Type == typeString || o.Type == typeEnum) {
		conds = append(conds, f+` != ""`)
	}
	if o.Required && o.Type == typeStrings {
		conds = append(conds, "len("+f+") > 0")
	}
	if len(o.OneOf) > 0 {
		fn := "optvalue.OneOf"
		if o.Type == typeStrings {
			fn = "optvalue.AllOf"
		}
		conds = append(conds, fmt.Sprintf("%s(%s, %s)", fn, f, quoteAll(o.OneOf)))
	}
	if len(conds) == 0 {
		return ""
	}
	return "func(o *Options) bool { return " + strings.Join(conds, " && ") + " }"
}

// quoteAll is vs as Go string literals separated by commas.
func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// defaultExpr is the Go expression of o's default in DefaultOptions; ""
// for the zero value.
func defaultExpr(o *OptionSpec) string {
	switch {
	case !o.HasDefault:
		return ""
	case o.Type != typeStrings:
		return "Default" + o.Name
	case len(o.DefaultList) > 0:
		return "[]string{" + quoteAll(o.DefaultList) + "}"
	}
	return ""
}

// howToSet lists the ways to set o, for errors and doc comments.
func howToSet(o *OptionSpec) string {
	var how []string
	if o.Query != "" {
		how = append(how, "URL query key "+o.Query)
	}
	if o.Env != "" {
		how = append(how, "environment variable "+o.Env)
	}
	if o.With != "" {
		how = append(how, o.With)
	}
	return orList(how)
}

// setDocCells fills the cells of od's row in the docs table.
func setDocCells(od *optData) {
	o := od.OptionSpec
	code := func(s string) string {
		if s == "" {
			return ""
		}
		return "`" + s + "`"
	}
	od.DocQuery, od.DocEnv, od.DocWith = code(o.Query), code(o.Env), code(o.With)
	od.DocType = o.Type
	if o.Type == typeCustom {
		od.DocType = code(o.GoType)
	}
	od.DocValid = od.Expected
	od.DocDefault = docDefault(o)
}

// docDefault is o's default in the docs table: `value`, empty, required,
// unset or (secret).
func docDefault(o *OptionSpec) string {
	var text string
	switch {
	case o.Required:
		return "required"
	case o.Type == typeCustom:
		return "unset"
	case o.Secret && o.Default != "":
		return "(secret)"
	case o.HasDefault && o.Type == typeStrings:
		text = o.Default
	case o.HasDefault:
		text = defaultDisplay(o)
	default:
		text = zeroText(o.Type)
	}
	if text == "" {
		return "empty"
	}
	return "`" + text + "`"
}

// docComments are the doc comments of od's field and With function,
// without "// ".
func docComments(od *optData) (field, with []string) {
	o := od.OptionSpec
	doc := []string{fmt.Sprintf("%s is %s.", o.Name, phrase(o.Doc))}
	if o.Type == typeCustom {
		doc = append(doc, "Set only in code, by "+o.With+".")
	} else {
		doc = append(doc, "Set by "+od.How+": "+od.Expected+".")
		switch {
		case o.Required:
			doc = append(doc, "Required.")
		case o.HasDefault && !o.Secret:
			doc = append(doc, "Default "+strings.Trim(od.DocDefault, "`")+".")
		}
	}
	if o.Secret {
		doc = append(doc, "Secret: String and errors show *** instead.")
	}
	field = wrap(strings.Join(doc, " "), 72)
	if o.With != "" {
		text := fmt.Sprintf("%s sets %s, %s.", o.With, o.Name, phrase(o.Doc))
		if o.Type != typeCustom {
			text += " It takes " + od.Expected + "."
		}
		with = wrap(text, 72)
	}
	return field, with
}

// defaultDisplay shows an option's default as a user writes it.
func defaultDisplay(o *OptionSpec) string {
	switch o.Type {
	case typeInt, typeInt64, typeSize, typeDuration:
		return formatNumber(o.Type, o.defV)
	}
	return o.Default
}

// wrap breaks text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// anchor is GitHub's anchor of a Markdown heading: lower case, letters,
// digits, '-' and '_' kept, spaces made '-', the rest dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
