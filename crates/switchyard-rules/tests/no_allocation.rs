//! Routing a request allocates nothing, once the per-thread caches of the regex engine are warm.
#![allow(
    unsafe_code,
    reason = "a counting global allocator needs an unsafe impl; it only forwards to System"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use switchyard_rules::{RequestView, Route, RouteTable, Rule};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a const
// thread-local `Cell`, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn routing_does_not_allocate() {
    let rules = [
        "Host(`api.example.com`) && PathPrefix(`/v1`)",
        "Host(`*.example.com`) && Header(`X-Env`, `prod`)",
        r"HostRegexp(`^[a-z]+\.tenant\.example$`) && QueryRegexp(`page`, `^[0-9]+$`)",
        "PathTemplate(`/users/{id}`) && Method(`GET`)",
        r"PathRegexp(`\.php$`)",
        "ClientIP(`10.0.0.0/8`) && Query(`q`, `a b`)",
        "Method(`POST`)",
    ];
    let table = RouteTable::new(
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| Route::new(format!("r{i}"), Rule::parse(r).unwrap(), i)),
    );
    let requests: Vec<http::request::Parts> = [
        ("GET", "http://API.Example.com:8443/v1/users"),
        ("GET", "http://www.example.com/x"),
        ("GET", "http://acme.tenant.example/list?page=12"),
        ("GET", "http://h/users/%34%32"),
        ("GET", "http://h/index.php"),
        ("GET", "http://h/search?q=a+b"),
        ("GET", "http://h/nothing"),
    ]
    .into_iter()
    .map(|(method, uri)| {
        let req = http::Request::builder().method(method).uri(uri).header("x-env", "prod");
        req.body(()).unwrap().into_parts().0
    })
    .collect();
    let client = Some("10.1.2.3".parse().unwrap());

    let route_all = || {
        let mut found = 0;
        for parts in &requests {
            let view = RequestView::new(parts, client).unwrap();
            if let Some(m) = table.route(&view) {
                found += 1 + m.params().map_or(0, |p| p.len());
            }
        }
        found
    };
    // Warm the regex engine's per-thread caches and the regexp screen's buffer.
    let expected = route_all();
    assert_eq!(expected, 7, "six requests route, and one captures a parameter");

    let mut found = 0;
    let count = allocations_during(|| found = route_all());
    assert_eq!(found, expected);
    assert_eq!(count, 0, "routing {} requests allocated {count} times", requests.len());
}

#[test]
fn the_counter_sees_allocations() {
    let count = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(count, 1);
}
