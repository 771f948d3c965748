package bucket_test

import (
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
)

// TestLag: a Lag arms only for an entry stored since its watch began and
// not delivered, and takes the watch for lost only when it delivered
// nothing at all until it fired.
func TestLag(t *testing.T) {
	const wait = 10 * time.Millisecond
	fired := func(t *testing.T, l *bucket.Lag) error {
		t.Helper()
		if l.C() == nil {
			t.Fatal("not armed")
		}
		select {
		case <-l.C():
		case <-time.After(5 * time.Second):
			t.Fatal("armed, and did not fire in 5s")
		}
		return l.Lost(0)
	}
	t.Run("an entry stored before the watch began is not waited for", func(t *testing.T) {
		l := bucket.NewLag(7, wait)
		l.Stored(7)
		if l.C() != nil {
			t.Fatal("armed for the last entry stored before the watch began (it may be removed since)")
		}
	})
	t.Run("a delivered entry is not waited for", func(t *testing.T) {
		l := bucket.NewLag(7, wait)
		l.Delivered(9)
		l.Stored(9)
		if l.C() != nil {
			t.Fatal("armed for an entry delivered")
		}
	})
	t.Run("nothing delivered: lost", func(t *testing.T) {
		l := bucket.NewLag(7, wait)
		l.Delivered(3) // the first pass
		l.Stored(9)
		err := fired(t, l)
		if !errors.Is(err, bucket.ErrLost) {
			t.Fatalf("got %v, want ErrLost", err)
		}
		if l.C() != nil {
			t.Error("still armed after Lost")
		}
	})
	t.Run("behind but delivering: not lost", func(t *testing.T) {
		l := bucket.NewLag(7, wait)
		l.Stored(12)
		l.Delivered(8)
		if err := fired(t, l); err != nil {
			t.Fatalf("got %v for a watch that delivered meanwhile", err)
		}
	})
	t.Run("delivered and not read yet: not lost", func(t *testing.T) {
		l := bucket.NewLag(7, wait)
		l.Stored(9)
		<-l.C()
		if err := l.Lost(1); err != nil {
			t.Fatalf("got %v for a watch holding an entry its caller has not read", err)
		}
	})
	t.Run("caught up: not lost", func(t *testing.T) {
		l := bucket.NewLag(7, wait)
		l.Stored(9)
		l.Delivered(9)
		if err := fired(t, l); err != nil {
			t.Fatalf("got %v for a watch that delivered the entry", err)
		}
	})
	t.Run("armed once until it fires", func(t *testing.T) {
		l := bucket.NewLag(7, wait)
		l.Stored(8)
		c := l.C()
		l.Stored(9)
		if l.C() != c {
			t.Fatal("armed anew by a later check before it fired")
		}
		if err := fired(t, l); !errors.Is(err, bucket.ErrLost) {
			t.Fatalf("got %v, want ErrLost", err)
		}
		l.Stored(9) // the next check arms it again
		if err := fired(t, l); !errors.Is(err, bucket.ErrLost) {
			t.Fatalf("second time: got %v, want ErrLost", err)
		}
	})
}
