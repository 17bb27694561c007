// The pod sandbox ("pause") process of the offline node images: standard library only, built static.
module rollboot.dev/hack/images/pause

go 1.22
