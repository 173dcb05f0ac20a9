package crypt

import (
	"fmt"
	"strings"
	"testing"
)

// resource2KB is a FHIR-like JSON document of 2,048 bytes.
var resource2KB = []byte(strings.Repeat(`{"resourceType":"Observation","status":"final"}`, 44)[:2048])

func BenchmarkSeal2KB(b *testing.B) {
	k := newKeyring(b, masterKey(1), &MemKeyStore{})
	aad := []byte("Observation/123/_history/4")
	mustSeal(b, k, "pt_bench", "warm", "up")
	b.SetBytes(int64(len(resource2KB)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal("pt_bench", aad, resource2KB); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen2KB(b *testing.B) {
	k := newKeyring(b, masterKey(1), &MemKeyStore{})
	aad := []byte("Observation/123/_history/4")
	ct, err := k.Seal("pt_bench", aad, resource2KB)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(resource2KB)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open("pt_bench", aad, ct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealOpen2KBParallel seals and opens across 1,000 subjects from
// all Ps, as a loaded records store would.
func BenchmarkSealOpen2KBParallel(b *testing.B) {
	k := newKeyring(b, masterKey(1), &MemKeyStore{})
	aad := []byte("Observation/123/_history/4")
	subjects := make([]string, 1000)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("pt_%04d", i)
		mustSeal(b, k, subjects[i], "warm", "up")
	}
	b.SetBytes(2 * int64(len(resource2KB)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s := subjects[i%len(subjects)]
			i++
			ct, err := k.Seal(s, aad, resource2KB)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Open(s, aad, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpenColdDEK measures Open when the subject's DEK is not cached
// and must be read from the KeyStore and unwrapped under the KEK.
func BenchmarkOpenColdDEK(b *testing.B) {
	k, err := New(masterKey(1), &MemKeyStore{}, Options{CacheSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	aad := []byte("Observation/123/_history/4")
	cts := [2][]byte{}
	for i := range cts {
		cts[i] = mustSeal(b, k, fmt.Sprint("pt_", i), string(aad), string(resource2KB))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := k.Open(fmt.Sprint("pt_", i%2), aad, cts[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkWrapFor(b *testing.B) {
	k := newKeyring(b, masterKey(1), &MemKeyStore{})
	mustSeal(b, k, "pt_bench", "x", "p")
	org, err := GenerateOrgKey()
	if err != nil {
		b.Fatal(err)
	}
	pub, info := org.PublicKey(), []byte("chain=medledger-dev;consent=Consent/1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.WrapFor("pt_bench", pub, info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImportWrapped(b *testing.B) {
	custodian := newKeyring(b, masterKey(1), &MemKeyStore{})
	mustSeal(b, custodian, "pt_bench", "x", "p")
	org, _ := GenerateOrgKey()
	info := []byte("chain=medledger-dev;consent=Consent/1")
	w, err := custodian.WrapFor("pt_bench", org.PublicKey(), info)
	if err != nil {
		b.Fatal(err)
	}
	receiver := newKeyring(b, masterKey(2), &MemKeyStore{})
	b.ReportAllocs()
	for b.Loop() {
		if err := receiver.ImportWrapped("pt_bench", w, org, info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPseudonym(b *testing.B) {
	k := newKeyring(b, masterKey(1), &MemKeyStore{})
	b.ReportAllocs()
	for b.Loop() {
		k.Pseudonym("Patient", "123456")
	}
}
