package main

// Stand-in for pulumi-resource-random: RandomPassword, RandomString,
// RandomBytes and RandomId with the upstream property names, defaults and
// replacement rule (every input, keepers included, replaces the value).

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

func newRandomProvider() *standInProvider {
	return &standInProvider{
		pkg:     "random",
		version: randomVersion,
		kinds: map[tokens.Type]resourceKind{
			"random:index/randomPassword:RandomPassword": &randomString{secret: true},
			"random:index/randomString:RandomString":     &randomString{},
			"random:index/randomBytes:RandomBytes":       randomBytes{},
			"random:index/randomId:RandomId":             randomID{},
		},
	}
}

// randomImmutable carries the rule shared by every random resource: the value
// never changes in place.
type randomImmutable struct{}

func (randomImmutable) replaceOnChange(resource.PropertyKey) bool { return true }

func (randomImmutable) update(
	_ context.Context, _ resource.ID, olds, _ resource.PropertyMap, _ bool,
) (resource.PropertyMap, error) {
	return olds, nil
}

func (randomImmutable) remove(context.Context, resource.ID, resource.PropertyMap) error { return nil }

const defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"

type randomString struct {
	randomImmutable
	secret bool
}

func (r *randomString) check(m resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	p := &props{m: m}
	if !p.has("length") {
		p.fail("length", "length is required")
	} else if p.known("length") && p.num("length", 0) < 1 {
		p.fail("length", "length must be at least 1")
	}
	for _, k := range []string{"special", "upper", "lower", "numeric"} {
		setDefault(m, k, resource.NewBoolProperty(true))
	}
	// `number` is the deprecated twin of `numeric`; upstream keeps them equal.
	if p.has("number") && !p.has("numeric") {
		m["numeric"] = m["number"]
	}
	setDefault(m, "number", m["numeric"])
	for _, k := range []string{"minUpper", "minLower", "minNumeric", "minSpecial"} {
		setDefault(m, k, resource.NewNumberProperty(0))
	}
	return m, p.failures
}

func (r *randomString) create(
	_ context.Context, in resource.PropertyMap, preview bool,
) (resource.ID, resource.PropertyMap, error) {
	if preview {
		return "", withOutputs(in, map[string]resource.PropertyValue{"result": unknownString(), "bcryptHash": unknownString()}), nil
	}
	p := &props{m: in}
	special := p.str("overrideSpecial", defaultSpecial)
	classes := []struct {
		on    bool
		min   int
		chars string
	}{
		{p.boolean("upper", true), int(p.num("minUpper", 0)), "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
		{p.boolean("lower", true), int(p.num("minLower", 0)), "abcdefghijklmnopqrstuvwxyz"},
		{p.boolean("numeric", true) && p.boolean("number", true), int(p.num("minNumeric", 0)), "0123456789"},
		{p.boolean("special", true), int(p.num("minSpecial", 0)), special},
	}
	length := int(p.num("length", 0))
	if len(p.failures) > 0 {
		return "", nil, fmt.Errorf("%s", p.failures[0].Reason)
	}
	var all strings.Builder
	var picked []byte
	for _, c := range classes {
		if !c.on || c.chars == "" {
			continue
		}
		all.WriteString(c.chars)
		for i := 0; i < c.min; i++ {
			b, err := pick(c.chars)
			if err != nil {
				return "", nil, err
			}
			picked = append(picked, b)
		}
	}
	if all.Len() == 0 {
		return "", nil, fmt.Errorf("no character class is enabled: nothing to draw from")
	}
	for len(picked) < length {
		b, err := pick(all.String())
		if err != nil {
			return "", nil, err
		}
		picked = append(picked, b)
	}
	if err := shuffle(picked); err != nil {
		return "", nil, err
	}
	result := string(picked)
	outs := map[string]resource.PropertyValue{"result": resource.NewStringProperty(result)}
	id := resource.ID(result)
	if r.secret {
		// bcrypt reads at most 72 bytes; upstream hashes the same prefix.
		hashInput := picked
		if len(hashInput) > 72 {
			hashInput = hashInput[:72]
		}
		hash, err := bcrypt.GenerateFromPassword(hashInput, bcrypt.DefaultCost)
		if err != nil {
			return "", nil, fmt.Errorf("bcrypt: %w", err)
		}
		outs["result"] = secretString(result)
		outs["bcryptHash"] = secretString(string(hash))
		id = "none"
	}
	return id, withOutputs(in, outs), nil
}

func pick(chars string) (byte, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
	if err != nil {
		return 0, fmt.Errorf("reading randomness: %w", err)
	}
	return chars[n.Int64()], nil
}

func shuffle(b []byte) error {
	for i := len(b) - 1; i > 0; i-- {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return fmt.Errorf("reading randomness: %w", err)
		}
		j := n.Int64()
		b[i], b[j] = b[j], b[i]
	}
	return nil
}

type randomBytes struct{ randomImmutable }

func (randomBytes) check(m resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	p := &props{m: m}
	if !p.has("length") {
		p.fail("length", "length is required")
	}
	return m, p.failures
}

func (randomBytes) create(_ context.Context, in resource.PropertyMap, preview bool) (resource.ID, resource.PropertyMap, error) {
	if preview {
		return "", withOutputs(in, map[string]resource.PropertyValue{"base64": unknownString(), "hex": unknownString()}), nil
	}
	p := &props{m: in}
	b := make([]byte, int(p.num("length", 0)))
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("reading randomness: %w", err)
	}
	return "none", withOutputs(in, map[string]resource.PropertyValue{
		"base64": secretString(base64.StdEncoding.EncodeToString(b)),
		"hex":    secretString(hex.EncodeToString(b)),
	}), nil
}

type randomID struct{ randomImmutable }

func (randomID) check(m resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	p := &props{m: m}
	if !p.has("byteLength") {
		p.fail("byteLength", "byteLength is required")
	}
	return m, p.failures
}

func (randomID) create(_ context.Context, in resource.PropertyMap, preview bool) (resource.ID, resource.PropertyMap, error) {
	if preview {
		outs := map[string]resource.PropertyValue{}
		for _, k := range []string{"b64Std", "b64Url", "dec", "hex"} {
			outs[k] = unknownString()
		}
		return "", withOutputs(in, outs), nil
	}
	p := &props{m: in}
	b := make([]byte, int(p.num("byteLength", 0)))
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("reading randomness: %w", err)
	}
	prefix := p.str("prefix", "")
	url := base64.RawURLEncoding.EncodeToString(b)
	return resource.ID(url), withOutputs(in, map[string]resource.PropertyValue{
		"b64Std": resource.NewStringProperty(prefix + base64.StdEncoding.EncodeToString(b)),
		"b64Url": resource.NewStringProperty(prefix + url),
		"dec":    resource.NewStringProperty(prefix + new(big.Int).SetBytes(b).String()),
		"hex":    resource.NewStringProperty(prefix + hex.EncodeToString(b)),
	}), nil
}
