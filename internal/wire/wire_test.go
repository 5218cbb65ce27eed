package wire

import (
	"encoding/binary"
	"errors"
	"testing"
)

var errTest = errors.New("test format")

func TestReader(t *testing.T) {
	b := binary.AppendUvarint([]byte{7}, 300)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	r := NewReader(b, errTest)
	if got := r.Byte(); got != 7 {
		t.Fatalf("Byte = %d", got)
	}
	if got := r.Uvarint(1000); got != 300 {
		t.Fatalf("Uvarint = %d", got)
	}
	if got := string(r.LenBytes(10)); got != "abc" {
		t.Fatalf("LenBytes = %q", got)
	}
	r.Done()
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}

func TestReaderErrors(t *testing.T) {
	thousand := binary.AppendUvarint(nil, 1000)
	for name, f := range map[string]func() *Reader{
		"short bytes": func() *Reader { r := NewReader(thousand, errTest); r.Bytes(5); return r },
		"over limit":  func() *Reader { r := NewReader(thousand, errTest); r.Uvarint(10); return r },
		"huge count":  func() *Reader { r := NewReader(thousand, errTest); r.Count(1<<30, 33); return r },
		"trailing":    func() *Reader { r := NewReader(thousand, errTest); r.Byte(); r.Done(); return r },
		"negative":    func() *Reader { r := NewReader(thousand, errTest); r.Bytes(-1); return r },
		"bad varint":  func() *Reader { r := NewReader([]byte{0xff}, errTest); r.Uvarint(1); return r },
		"long bytes":  func() *Reader { r := NewReader(thousand, errTest); r.LenBytes(1 << 20); return r },
	} {
		r := f()
		if !errors.Is(r.Err(), errTest) {
			t.Errorf("%s: err = %v, want %v", name, r.Err(), errTest)
		}
		// After an error every read is a zero value, never a panic.
		if r.Byte() != 0 || r.Bytes(1) != nil || r.Uvarint(5) != 0 {
			t.Errorf("%s: reads after an error returned data", name)
		}
	}
}

// uvarintValue encodes as a minimal uvarint.
type uvarintValue uint64

func (v uvarintValue) MarshalBinary() ([]byte, error) {
	return binary.AppendUvarint(nil, uint64(v)), nil
}

type failing struct{}

func (failing) MarshalBinary() ([]byte, error) { return nil, errors.New("cannot encode") }

func TestCanonical(t *testing.T) {
	if err := Canonical([]byte{0x81, 0x01}, uvarintValue(129), errTest); err != nil {
		t.Fatal(err)
	}
	// 1 written in two bytes: the same value, another byte form.
	if err := Canonical([]byte{0x81, 0x00}, uvarintValue(1), errTest); !errors.Is(err, errTest) {
		t.Fatalf("non-minimal: %v", err)
	}
	if err := Canonical(nil, failing{}, errTest); !errors.Is(err, errTest) {
		t.Fatalf("an encoder's error: %v", err)
	}
}
