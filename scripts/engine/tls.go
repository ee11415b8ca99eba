package main

// Stand-in for pulumi-resource-tls (the Terraform tls provider bridged):
// PrivateKey, SelfSignedCert, CertRequest and LocallySignedCert with the
// upstream property names, defaults (ecdsaCurve P224, rsaBits 2048,
// maxPathLength -1), PEM formats and replacement rules. Built on Go's crypto/x509.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SKIDs and state ids are SHA-1 upstream too (RFC 5280 §4.2.1.2 method 1).
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

func newTLSProvider() *standInProvider {
	return &standInProvider{
		pkg:     "tls",
		version: tlsVersion,
		kinds: map[tokens.Type]resourceKind{
			"tls:index/privateKey:PrivateKey":               tlsPrivateKey{},
			"tls:index/selfSignedCert:SelfSignedCert":       tlsCert{self: true},
			"tls:index/locallySignedCert:LocallySignedCert": tlsCert{},
			"tls:index/certRequest:CertRequest":             tlsCertRequest{},
		},
	}
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b) //nolint:gosec // identifier, not a security boundary
	return hex.EncodeToString(sum[:])
}

// ---- PrivateKey ----

type tlsPrivateKey struct{}

func (tlsPrivateKey) replaceOnChange(resource.PropertyKey) bool { return true }

func (tlsPrivateKey) update(
	_ context.Context, _ resource.ID, olds, _ resource.PropertyMap, _ bool,
) (resource.PropertyMap, error) {
	return olds, nil
}

func (tlsPrivateKey) remove(context.Context, resource.ID, resource.PropertyMap) error { return nil }

func (tlsPrivateKey) check(m resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	p := &props{m: m}
	if !p.has("algorithm") {
		p.fail("algorithm", "algorithm is required (RSA, ECDSA or ED25519)")
	} else if p.known("algorithm") {
		switch a := p.str("algorithm", ""); a {
		case "RSA", "ECDSA", "ED25519":
		default:
			p.fail("algorithm", "algorithm %q is not one of RSA, ECDSA, ED25519", a)
		}
	}
	setDefault(m, "rsaBits", resource.NewNumberProperty(2048))
	setDefault(m, "ecdsaCurve", resource.NewStringProperty("P224"))
	if p.known("ecdsaCurve") {
		if _, err := curveByName(p.str("ecdsaCurve", "")); err != nil {
			p.fail("ecdsaCurve", "%v", err)
		}
	}
	return m, p.failures
}

func curveByName(name string) (elliptic.Curve, error) {
	switch name {
	case "P224":
		return elliptic.P224(), nil
	case "P256":
		return elliptic.P256(), nil
	case "P384":
		return elliptic.P384(), nil
	case "P521":
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("ecdsaCurve %q is not one of P224, P256, P384, P521", name)
}

func (tlsPrivateKey) create(
	_ context.Context, in resource.PropertyMap, preview bool,
) (resource.ID, resource.PropertyMap, error) {
	outKeys := []string{
		"privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh", "publicKeyPem",
		"publicKeyOpenssh", "publicKeyFingerprintMd5", "publicKeyFingerprintSha256",
	}
	if preview {
		outs := map[string]resource.PropertyValue{}
		for _, k := range outKeys {
			outs[k] = unknownString()
		}
		return "", withOutputs(in, outs), nil
	}
	p := &props{m: in}
	var (
		key    crypto.Signer
		keyPEM *pem.Block
		err    error
	)
	switch p.str("algorithm", "") {
	case "RSA":
		var k *rsa.PrivateKey
		k, err = rsa.GenerateKey(rand.Reader, int(p.num("rsaBits", 2048)))
		if err == nil {
			key, keyPEM = k, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		}
	case "ECDSA":
		var curve elliptic.Curve
		curve, err = curveByName(p.str("ecdsaCurve", "P224"))
		if err == nil {
			var k *ecdsa.PrivateKey
			k, err = ecdsa.GenerateKey(curve, rand.Reader)
			if err == nil {
				var der []byte
				der, err = x509.MarshalECPrivateKey(k)
				key, keyPEM = k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
			}
		}
	case "ED25519":
		var k ed25519.PrivateKey
		_, k, err = ed25519.GenerateKey(rand.Reader)
		if err == nil {
			var der []byte
			der, err = x509.MarshalPKCS8PrivateKey(k)
			key, keyPEM = k, &pem.Block{Type: "PRIVATE KEY", Bytes: der}
		}
	default:
		err = fmt.Errorf("unsupported algorithm %q", p.str("algorithm", ""))
	}
	if err != nil {
		return "", nil, fmt.Errorf("generating the key: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, fmt.Errorf("encoding PKCS#8: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", nil, fmt.Errorf("encoding the public key: %w", err)
	}
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	outs := map[string]resource.PropertyValue{
		"privateKeyPem":      secretString(string(pem.EncodeToMemory(keyPEM))),
		"privateKeyPemPkcs8": secretString(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))),
		"publicKeyPem":       resource.NewStringProperty(pubPEM),
		// OpenSSH has no P-224: upstream leaves these empty for that curve.
		"privateKeyOpenssh":          secretString(""),
		"publicKeyOpenssh":           resource.NewStringProperty(""),
		"publicKeyFingerprintMd5":    resource.NewStringProperty(""),
		"publicKeyFingerprintSha256": resource.NewStringProperty(""),
	}
	if sshPub, err := ssh.NewPublicKey(key.Public()); err == nil {
		outs["publicKeyOpenssh"] = resource.NewStringProperty(string(ssh.MarshalAuthorizedKey(sshPub)))
		outs["publicKeyFingerprintMd5"] = resource.NewStringProperty(ssh.FingerprintLegacyMD5(sshPub))
		outs["publicKeyFingerprintSha256"] = resource.NewStringProperty(ssh.FingerprintSHA256(sshPub))
		if block, err := ssh.MarshalPrivateKey(key, ""); err == nil {
			outs["privateKeyOpenssh"] = secretString(string(pem.EncodeToMemory(block)))
		}
	}
	return resource.ID(sha1Hex([]byte(pubPEM))), withOutputs(in, outs), nil
}

// parsePrivateKey accepts the PEM forms PrivateKey produces (PKCS#1, SEC 1, PKCS#8).
func parsePrivateKey(s string) (crypto.Signer, string, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, "", errors.New("private key is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, "", fmt.Errorf("parsing the private key (%s): %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, "RSA", nil
	case *ecdsa.PrivateKey:
		return k, "ECDSA", nil
	case ed25519.PrivateKey:
		return k, "ED25519", nil
	}
	return nil, "", fmt.Errorf("unsupported private key type %T", key)
}

// ---- subject, SANs, usages ----

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

func subjectOf(p *props) pkix.Name {
	s := p.object("subject")
	one := func(k string) []string {
		if v := s.str(k, ""); v != "" {
			return []string{v}
		}
		return nil
	}
	n := pkix.Name{
		CommonName:         s.str("commonName", ""),
		Organization:       one("organization"),
		OrganizationalUnit: one("organizationalUnit"),
		StreetAddress:      s.strings("streetAddresses"),
		Locality:           one("locality"),
		Province:           one("province"),
		Country:            one("country"),
		PostalCode:         one("postalCode"),
		SerialNumber:       s.str("serialNumber", ""),
	}
	if e := s.str("emailAddress", ""); e != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oidEmailAddress, Value: e})
	}
	p.failures = append(p.failures, s.failures...)
	return n
}

type sans struct {
	dns  []string
	ips  []net.IP
	uris []*url.URL
}

func sansOf(p *props) (sans, error) {
	out := sans{dns: p.strings("dnsNames")}
	for _, s := range p.strings("ipAddresses") {
		ip := net.ParseIP(s)
		if ip == nil {
			return out, fmt.Errorf("ipAddresses: %q is not an IP address", s)
		}
		out.ips = append(out.ips, ip)
	}
	for _, s := range p.strings("uris") {
		u, err := url.Parse(s)
		if err != nil {
			return out, fmt.Errorf("uris: %q: %w", s, err)
		}
		out.uris = append(out.uris, u)
	}
	return out, nil
}

var keyUsages = map[string]x509.KeyUsage{
	"digital_signature":  x509.KeyUsageDigitalSignature,
	"content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment":   x509.KeyUsageKeyEncipherment,
	"data_encipherment":  x509.KeyUsageDataEncipherment,
	"key_agreement":      x509.KeyUsageKeyAgreement,
	"cert_signing":       x509.KeyUsageCertSign,
	"crl_signing":        x509.KeyUsageCRLSign,
	"encipher_only":      x509.KeyUsageEncipherOnly,
	"decipher_only":      x509.KeyUsageDecipherOnly,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"any_extended":                      x509.ExtKeyUsageAny,
	"server_auth":                       x509.ExtKeyUsageServerAuth,
	"client_auth":                       x509.ExtKeyUsageClientAuth,
	"code_signing":                      x509.ExtKeyUsageCodeSigning,
	"email_protection":                  x509.ExtKeyUsageEmailProtection,
	"ipsec_end_system":                  x509.ExtKeyUsageIPSECEndSystem,
	"ipsec_tunnel":                      x509.ExtKeyUsageIPSECTunnel,
	"ipsec_user":                        x509.ExtKeyUsageIPSECUser,
	"timestamping":                      x509.ExtKeyUsageTimeStamping,
	"ocsp_signing":                      x509.ExtKeyUsageOCSPSigning,
	"microsoft_server_gated_crypto":     x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscape_server_gated_crypto":      x509.ExtKeyUsageNetscapeServerGatedCrypto,
	"microsoft_commercial_code_signing": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
	"microsoft_kernel_code_signing":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
}

// ---- SelfSignedCert and LocallySignedCert ----

type tlsCert struct{ self bool }

// earlyRenewalHours changes in place upstream too; every other input replaces the certificate.
func (tlsCert) replaceOnChange(key resource.PropertyKey) bool { return key != "earlyRenewalHours" }

func (c tlsCert) check(m resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	p := &props{m: m}
	required := []string{"validityPeriodHours", "allowedUses"}
	if c.self {
		if !p.has("privateKeyPem") && !p.has("privateKeyPemWo") {
			p.fail("privateKeyPem", "privateKeyPem is required")
		}
	} else {
		required = append(required, "certRequestPem", "caCertPem")
		if !p.has("caPrivateKeyPem") && !p.has("caPrivateKeyPemWo") {
			p.fail("caPrivateKeyPem", "caPrivateKeyPem is required")
		}
	}
	for _, k := range required {
		if !p.has(k) {
			p.fail(k, "%s is required", k)
		}
	}
	for _, u := range p.strings("allowedUses") {
		if _, ok := keyUsages[u]; ok {
			continue
		}
		if _, ok := extKeyUsages[u]; !ok {
			p.fail("allowedUses", "unknown use %q (values are snake_case, e.g. digital_signature, ipsec_end_system)", u)
		}
	}
	setDefault(m, "earlyRenewalHours", resource.NewNumberProperty(0))
	setDefault(m, "isCaCertificate", resource.NewBoolProperty(false))
	setDefault(m, "maxPathLength", resource.NewNumberProperty(-1))
	setDefault(m, "setSubjectKeyId", resource.NewBoolProperty(false))
	if c.self {
		setDefault(m, "setAuthorityKeyId", resource.NewBoolProperty(false))
	}
	return m, p.failures
}

func (c tlsCert) outputKeys() []string {
	keys := []string{"certPem", "validityStartTime", "validityEndTime", "readyForRenewal"}
	if c.self {
		return append(keys, "keyAlgorithm")
	}
	return append(keys, "caKeyAlgorithm")
}

func (c tlsCert) create(
	_ context.Context, in resource.PropertyMap, preview bool,
) (resource.ID, resource.PropertyMap, error) {
	if preview {
		outs := map[string]resource.PropertyValue{}
		for _, k := range c.outputKeys() {
			outs[k] = unknownString()
		}
		outs["readyForRenewal"] = resource.MakeComputed(resource.NewBoolProperty(false))
		return "", withOutputs(in, outs), nil
	}
	p := &props{m: in}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	hours := p.num("validityPeriodHours", 0)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now,
		NotAfter:              now.Add(time.Duration(hours * float64(time.Hour))),
		BasicConstraintsValid: true,
		IsCA:                  p.boolean("isCaCertificate", false),
	}
	for _, u := range p.strings("allowedUses") {
		if ku, ok := keyUsages[u]; ok {
			tmpl.KeyUsage |= ku
		} else if eku, ok := extKeyUsages[u]; ok {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, eku)
		}
	}
	if tmpl.IsCA {
		if mpl := int(p.num("maxPathLength", -1)); mpl >= 0 {
			tmpl.MaxPathLen, tmpl.MaxPathLenZero = mpl, mpl == 0
		} else {
			tmpl.MaxPathLen = -1
		}
	}

	var (
		pub    any
		signer crypto.Signer
		parent *x509.Certificate
		outs   = map[string]resource.PropertyValue{}
	)
	if c.self {
		key, alg, err := parsePrivateKey(p.str("privateKeyPem", p.str("privateKeyPemWo", "")))
		if err != nil {
			return "", nil, fmt.Errorf("privateKeyPem: %w", err)
		}
		s, err := sansOf(p)
		if err != nil {
			return "", nil, err
		}
		tmpl.Subject = subjectOf(p)
		tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs = s.dns, s.ips, s.uris
		pub, signer, parent = key.Public(), key, tmpl
		outs["keyAlgorithm"] = resource.NewStringProperty(alg)
	} else {
		csr, err := parseCSR(p.str("certRequestPem", ""))
		if err != nil {
			return "", nil, err
		}
		caKey, alg, err := parsePrivateKey(p.str("caPrivateKeyPem", p.str("caPrivateKeyPemWo", "")))
		if err != nil {
			return "", nil, fmt.Errorf("caPrivateKeyPem: %w", err)
		}
		caCert, err := parseCert(p.str("caCertPem", ""))
		if err != nil {
			return "", nil, fmt.Errorf("caCertPem: %w", err)
		}
		tmpl.Subject = csr.Subject
		tmpl.DNSNames, tmpl.IPAddresses, tmpl.URIs = csr.DNSNames, csr.IPAddresses, csr.URIs
		tmpl.EmailAddresses = csr.EmailAddresses
		pub, signer, parent = csr.PublicKey, caKey, caCert
		outs["caKeyAlgorithm"] = resource.NewStringProperty(alg)
	}
	if len(p.failures) > 0 {
		return "", nil, errors.New(p.failures[0].Reason)
	}
	if p.boolean("setSubjectKeyId", false) || tmpl.IsCA {
		pubDER, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", nil, fmt.Errorf("encoding the public key: %w", err)
		}
		var spki struct {
			Algorithm pkix.AlgorithmIdentifier
			PublicKey asn1.BitString
		}
		if _, err := asn1.Unmarshal(pubDER, &spki); err != nil {
			return "", nil, fmt.Errorf("reading the public key: %w", err)
		}
		sum := sha1.Sum(spki.PublicKey.Bytes) //nolint:gosec // RFC 5280 key identifier method 1
		tmpl.SubjectKeyId = sum[:]
	}
	if c.self && p.boolean("setAuthorityKeyId", false) {
		tmpl.AuthorityKeyId = tmpl.SubjectKeyId
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return "", nil, fmt.Errorf("signing the certificate: %w", err)
	}
	outs["certPem"] = resource.NewStringProperty(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	outs["validityStartTime"] = resource.NewStringProperty(tmpl.NotBefore.Format(time.RFC3339))
	outs["validityEndTime"] = resource.NewStringProperty(tmpl.NotAfter.Format(time.RFC3339))
	outs["readyForRenewal"] = resource.NewBoolProperty(readyForRenewal(tmpl.NotAfter, p.num("earlyRenewalHours", 0)))
	return resource.ID(serial.String()), withOutputs(in, outs), nil
}

func readyForRenewal(notAfter time.Time, earlyHours float64) bool {
	return !time.Now().Before(notAfter.Add(-time.Duration(earlyHours * float64(time.Hour))))
}

// update only happens for earlyRenewalHours: keep the certificate, record the new value.
func (tlsCert) update(
	_ context.Context, _ resource.ID, olds, news resource.PropertyMap, _ bool,
) (resource.PropertyMap, error) {
	out := olds.Copy()
	for k, v := range news {
		out[k] = v
	}
	p := &props{m: out}
	if end, err := time.Parse(time.RFC3339, p.str("validityEndTime", "")); err == nil {
		out["readyForRenewal"] = resource.NewBoolProperty(readyForRenewal(end, p.num("earlyRenewalHours", 0)))
	}
	return out, nil
}

func (tlsCert) remove(context.Context, resource.ID, resource.PropertyMap) error { return nil }

func parseCSR(s string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("certRequestPem is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certRequestPem: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certRequestPem: bad signature: %w", err)
	}
	return csr, nil
}

func parseCert(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE")
	}
	return x509.ParseCertificate(block.Bytes)
}

// ---- CertRequest ----

type tlsCertRequest struct{}

func (tlsCertRequest) replaceOnChange(resource.PropertyKey) bool { return true }

func (tlsCertRequest) update(
	_ context.Context, _ resource.ID, olds, _ resource.PropertyMap, _ bool,
) (resource.PropertyMap, error) {
	return olds, nil
}

func (tlsCertRequest) remove(context.Context, resource.ID, resource.PropertyMap) error { return nil }

func (tlsCertRequest) check(m resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	p := &props{m: m}
	if !p.has("privateKeyPem") && !p.has("privateKeyPemWo") {
		p.fail("privateKeyPem", "privateKeyPem is required")
	}
	return m, p.failures
}

func (tlsCertRequest) create(
	_ context.Context, in resource.PropertyMap, preview bool,
) (resource.ID, resource.PropertyMap, error) {
	if preview {
		return "", withOutputs(in, map[string]resource.PropertyValue{
			"certRequestPem": unknownString(), "keyAlgorithm": unknownString(),
		}), nil
	}
	p := &props{m: in}
	key, alg, err := parsePrivateKey(p.str("privateKeyPem", p.str("privateKeyPemWo", "")))
	if err != nil {
		return "", nil, fmt.Errorf("privateKeyPem: %w", err)
	}
	s, err := sansOf(p)
	if err != nil {
		return "", nil, err
	}
	tmpl := &x509.CertificateRequest{
		Subject:  subjectOf(p),
		DNSNames: s.dns, IPAddresses: s.ips, URIs: s.uris,
	}
	if len(p.failures) > 0 {
		return "", nil, errors.New(p.failures[0].Reason)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", nil, fmt.Errorf("creating the request: %w", err)
	}
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	return resource.ID(sha1Hex([]byte(csrPEM))), withOutputs(in, map[string]resource.PropertyValue{
		"certRequestPem": resource.NewStringProperty(csrPEM),
		"keyAlgorithm":   resource.NewStringProperty(alg),
	}), nil
}
