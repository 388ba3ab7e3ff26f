"""The event-type mix of a busy sale, shared by the benchmarks: mostly views, few orders."""

EVENT_MIX = {
    "page_view": 50,
    "product_view": 25,
    "search": 6,
    "add_to_cart": 7,
    "remove_from_cart": 1.5,
    "begin_checkout": 3,
    "order_placed": 2.5,
    "payment_succeeded": 2,
    "refund": 0.5,
}
