package main

// The shared skeleton of the three stand-in providers: a table of resource
// types, each with check/diff/create/update/delete over resource.PropertyMap,
// served through the SDK's own plugin.NewProviderServer (which does all the
// gRPC marshalling, secrets and unknowns included).

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/blang/semver"
	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// resourceKind implements one resource type. Inputs arrive after check; olds
// in diff/update/delete are the previous outputs, which always include the
// previous inputs.
type resourceKind interface {
	// check validates inputs and fills in provider-side defaults.
	check(news resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure)
	// replaceOnChange says whether a change of this input key replaces the resource.
	replaceOnChange(key resource.PropertyKey) bool
	// create makes the resource; in preview it returns unknowns for what it cannot know yet.
	create(ctx context.Context, inputs resource.PropertyMap, preview bool) (resource.ID, resource.PropertyMap, error)
	// update changes the resource in place (only called for non-replacing changes).
	update(ctx context.Context, id resource.ID, olds, news resource.PropertyMap, preview bool) (resource.PropertyMap, error)
	// remove deletes the resource.
	remove(ctx context.Context, id resource.ID, olds resource.PropertyMap) error
}

type standInProvider struct {
	plugin.UnimplementedProvider

	pkg     string
	version string
	kinds   map[tokens.Type]resourceKind
}

func serveProvider(p *standInProvider) error {
	return serve(func(s *grpc.Server, _ string) {
		pulumirpc.RegisterResourceProviderServer(s, plugin.NewProviderServer(p))
	})
}

func (p *standInProvider) kind(t tokens.Type) (resourceKind, error) {
	k, ok := p.kinds[t]
	if !ok {
		known := make([]string, 0, len(p.kinds))
		for n := range p.kinds {
			known = append(known, string(n))
		}
		sort.Strings(known)
		return nil, fmt.Errorf("resource type %s is not implemented by ipsec-mesh's stand-in %s provider "+
			"(implemented: %v); see docs/engine.md", t, p.pkg, known)
	}
	return k, nil
}

func (p *standInProvider) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v, err := semver.ParseTolerant(p.version)
	if err != nil {
		return plugin.PluginInfo{}, fmt.Errorf("bad provider version %q: %w", p.version, err)
	}
	return plugin.PluginInfo{Version: &v}, nil
}

// GetSchema returns a minimal schema: the npm SDKs are already generated, the
// engine only asks for it in codegen paths (`pulumi package get-schema`).
func (p *standInProvider) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	b, err := json.Marshal(map[string]any{"name": p.pkg, "version": p.version})
	return plugin.GetSchemaResponse{Schema: b}, err
}

func (p *standInProvider) CheckConfig(
	_ context.Context, req plugin.CheckConfigRequest,
) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *standInProvider) DiffConfig(context.Context, plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

func (p *standInProvider) Configure(context.Context, plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	return plugin.ConfigureResponse{}, nil
}

func (p *standInProvider) SignalCancellation(context.Context) error { return nil }

func (p *standInProvider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	k, err := p.kind(req.Type)
	if err != nil {
		return plugin.CheckResponse{}, err
	}
	props, failures := k.check(req.News.Copy())
	return plugin.CheckResponse{Properties: props, Failures: failures}, nil
}

func (p *standInProvider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	k, err := p.kind(req.Type)
	if err != nil {
		return plugin.DiffResult{}, err
	}
	olds := req.OldInputs
	if olds == nil {
		olds = req.OldOutputs
	}
	ignored := map[string]bool{}
	for _, i := range req.IgnoreChanges {
		ignored[i] = true
	}
	keys := map[resource.PropertyKey]bool{}
	for key := range olds {
		keys[key] = true
	}
	for key := range req.NewInputs {
		keys[key] = true
	}
	result := plugin.DiffResult{Changes: plugin.DiffNone, DetailedDiff: map[string]plugin.PropertyDiff{}}
	for key := range keys {
		if ignored[string(key)] {
			continue
		}
		o, hadOld := olds[key]
		n, hasNew := req.NewInputs[key]
		if hadOld && o.IsNull() {
			hadOld = false
		}
		if hasNew && n.IsNull() {
			hasNew = false
		}
		var kind plugin.DiffKind
		switch {
		case !hadOld && !hasNew:
			continue
		case !hadOld:
			kind = plugin.DiffAdd
		case !hasNew:
			kind = plugin.DiffDelete
		case valuesEqual(o, n):
			continue
		default:
			kind = plugin.DiffUpdate
		}
		result.Changes = plugin.DiffSome
		result.ChangedKeys = append(result.ChangedKeys, key)
		d := plugin.PropertyDiff{Kind: kind, InputDiff: true}
		if k.replaceOnChange(key) {
			result.ReplaceKeys = append(result.ReplaceKeys, key)
			d = d.ToReplace()
		}
		result.DetailedDiff[string(key)] = d
	}
	sort.Slice(result.ChangedKeys, func(i, j int) bool { return result.ChangedKeys[i] < result.ChangedKeys[j] })
	sort.Slice(result.ReplaceKeys, func(i, j int) bool { return result.ReplaceKeys[i] < result.ReplaceKeys[j] })
	return result, nil
}

// valuesEqual compares two inputs ignoring secretness (marking a value secret
// is not a change) and treating anything unknown as different.
func valuesEqual(a, b resource.PropertyValue) bool {
	a, b = unwrap(a), unwrap(b)
	if a.ContainsUnknowns() || b.ContainsUnknowns() {
		return false
	}
	return a.DeepEquals(b)
}

// unwrap removes secret and output wrappers (recursively) so values can be compared and read.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return unwrap(v.SecretValue().Element)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return unwrap(o.Element)
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]resource.PropertyValue, len(arr))
		for i, e := range arr {
			out[i] = unwrap(e)
		}
		return resource.NewArrayProperty(out)
	case v.IsObject():
		obj := v.ObjectValue()
		out := resource.PropertyMap{}
		for k, e := range obj {
			out[k] = unwrap(e)
		}
		return resource.NewObjectProperty(out)
	}
	return v
}

func (p *standInProvider) Create(ctx context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	k, err := p.kind(req.Type)
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	id, outs, err := k.create(ctx, req.Properties, req.Preview)
	if err != nil {
		return plugin.CreateResponse{Status: resource.StatusOK}, fmt.Errorf("%s: %w", req.URN.Name(), err)
	}
	if req.Preview {
		id = ""
	}
	return plugin.CreateResponse{ID: id, Properties: outs, Status: resource.StatusOK}, nil
}

// Read returns the recorded state unchanged: none of these resources has a
// remote truth that `pulumi refresh` could observe more cheaply than re-running it.
func (p *standInProvider) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	return plugin.ReadResponse{
		ReadResult: plugin.ReadResult{ID: req.ID, Inputs: req.Inputs, Outputs: req.State},
		Status:     resource.StatusOK,
	}, nil
}

func (p *standInProvider) Update(ctx context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	k, err := p.kind(req.Type)
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	outs, err := k.update(ctx, req.ID, req.OldOutputs, req.NewInputs, req.Preview)
	if err != nil {
		return plugin.UpdateResponse{Status: resource.StatusOK}, fmt.Errorf("%s: %w", req.URN.Name(), err)
	}
	return plugin.UpdateResponse{Properties: outs, Status: resource.StatusOK}, nil
}

func (p *standInProvider) Delete(ctx context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	k, err := p.kind(req.Type)
	if err != nil {
		return plugin.DeleteResponse{}, err
	}
	if err := k.remove(ctx, req.ID, req.Outputs); err != nil {
		return plugin.DeleteResponse{Status: resource.StatusOK}, fmt.Errorf("%s: %w", req.URN.Name(), err)
	}
	return plugin.DeleteResponse{Status: resource.StatusOK}, nil
}

// ---- small helpers for reading inputs ----

// props reads typed inputs from a property map; the first problem is kept
// and turned into a check failure.
type props struct {
	m        resource.PropertyMap
	failures []plugin.CheckFailure
}

func (p *props) fail(key, format string, a ...any) {
	p.failures = append(p.failures, plugin.CheckFailure{Property: resource.PropertyKey(key), Reason: fmt.Sprintf(format, a...)})
}

func (p *props) has(key string) bool {
	v, ok := p.m[resource.PropertyKey(key)]
	return ok && !v.IsNull()
}

// known reports whether the value is present and fully known (not an unknown from preview).
func (p *props) known(key string) bool {
	v, ok := p.m[resource.PropertyKey(key)]
	return ok && !v.IsNull() && !unwrap(v).ContainsUnknowns()
}

func (p *props) str(key, def string) string {
	v := unwrap(p.m[resource.PropertyKey(key)])
	switch {
	case v.IsNull() || v.IsComputed():
		return def
	case v.IsString():
		return v.StringValue()
	}
	p.fail(key, "expected a string, got %v", v.TypeString())
	return def
}

func (p *props) num(key string, def float64) float64 {
	v := unwrap(p.m[resource.PropertyKey(key)])
	switch {
	case v.IsNull() || v.IsComputed():
		return def
	case v.IsNumber():
		return v.NumberValue()
	}
	p.fail(key, "expected a number, got %v", v.TypeString())
	return def
}

func (p *props) boolean(key string, def bool) bool {
	v := unwrap(p.m[resource.PropertyKey(key)])
	switch {
	case v.IsNull() || v.IsComputed():
		return def
	case v.IsBool():
		return v.BoolValue()
	}
	p.fail(key, "expected a boolean, got %v", v.TypeString())
	return def
}

func (p *props) strings(key string) []string {
	v := unwrap(p.m[resource.PropertyKey(key)])
	if v.IsNull() || v.IsComputed() {
		return nil
	}
	if !v.IsArray() {
		p.fail(key, "expected a list of strings, got %v", v.TypeString())
		return nil
	}
	var out []string
	for i, e := range v.ArrayValue() {
		if !e.IsString() {
			p.fail(key, "element %d: expected a string, got %v", i, e.TypeString())
			continue
		}
		out = append(out, e.StringValue())
	}
	return out
}

func (p *props) object(key string) *props {
	v := unwrap(p.m[resource.PropertyKey(key)])
	if v.IsNull() || v.IsComputed() {
		return &props{m: resource.PropertyMap{}}
	}
	if !v.IsObject() {
		p.fail(key, "expected an object, got %v", v.TypeString())
		return &props{m: resource.PropertyMap{}}
	}
	return &props{m: v.ObjectValue()}
}

// setDefault fills a provider-side default the way the upstream schema does,
// so state shows the value that was used.
func setDefault(m resource.PropertyMap, key string, v resource.PropertyValue) {
	if cur, ok := m[resource.PropertyKey(key)]; !ok || cur.IsNull() {
		m[resource.PropertyKey(key)] = v
	}
}

// withOutputs copies the inputs and adds computed outputs (as unknowns in
// preview). Secret inputs stay secret because their PropertyValues are copied as they are.
func withOutputs(inputs resource.PropertyMap, outs map[string]resource.PropertyValue) resource.PropertyMap {
	m := inputs.Copy()
	for k, v := range outs {
		m[resource.PropertyKey(k)] = v
	}
	return m
}

func unknownString() resource.PropertyValue {
	return resource.MakeComputed(resource.NewStringProperty(""))
}

func secretString(s string) resource.PropertyValue {
	return resource.MakeSecret(resource.NewStringProperty(s))
}
