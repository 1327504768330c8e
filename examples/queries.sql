-- The e-commerce example: data and queries on the schema of
-- examples/migrations, through sqlited-cli. Start the daemon with
--   sqlited --migrations examples/migrations
-- then run the whole script with
--   sqlited-cli -m table < examples/queries.sql
-- (a script runs as one request: only the last statement's rows print), or
-- one statement at a time. tests/integration/test_migrate.c runs each
-- statement through sqlited-cli and compares its rows with SQLite's own.

INSERT INTO users (email, password_hash, name) VALUES
    ('ada@example.com', 'x', 'Ada'),
    ('bob@example.com', 'x', 'Bob');

INSERT INTO categories (id, name, description, parent_id) VALUES
    (1, 'Electronics', 'Things with plugs', NULL),
    (2, 'Computers', NULL, 1),
    (3, 'Laptops', 'Portable computers', 2),
    (4, 'Phones', NULL, 1),
    (5, 'Books', NULL, NULL),
    (6, 'Fiction', 'Novels, mostly', 5);

INSERT INTO products (sku, name, price, stock_quantity, category_id) VALUES
    ('LAP-1', 'Light laptop', 999.0, 5, 3),
    ('LAP-2', 'Heavy laptop', 1299.5, 2, 3),
    ('PHN-1', 'Phone', 599.99, 10, 4),
    ('BK-1', 'A novel', 12.5, 100, 6),
    ('BK-2', 'Another novel', 9.99, 50, 6);

-- The upsert: a new product is inserted, one whose sku exists is updated.
INSERT INTO products (sku, name, description, price, stock_quantity)
VALUES
    ('PHN-1', 'Phone, second edition', 'Updated', 549.0, 12),
    ('PHN-2', 'Small phone', NULL, 399.0, 3)
ON CONFLICT(sku) DO UPDATE SET
    name = excluded.name,
    description = excluded.description,
    price = excluded.price,
    stock_quantity = excluded.stock_quantity,
    updated_at = CURRENT_TIMESTAMP;

INSERT INTO orders (id, user_id, status) VALUES
    (1, 1, 'delivered'),
    (2, 2, 'shipped'),
    (3, 1, 'cancelled');

INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES
    (1, 1, 1, 999.0),
    (1, 4, 2, 12.5),
    (2, 3, 1, 549.0),
    (2, 5, 3, 9.99),
    (3, 2, 1, 1299.5);

UPDATE orders SET total_amount = (
    SELECT sum(quantity * unit_price) FROM order_items
    WHERE order_id = orders.id);

-- The products after the upsert.
SELECT sku, name, description, price, stock_quantity, category_id
FROM products ORDER BY sku;

-- The category tree: a recursive CTE from the roots down, with each
-- category's depth and path.
WITH RECURSIVE category_tree AS (
    SELECT id, name, parent_id, 0 AS depth, name AS path
    FROM categories
    WHERE parent_id IS NULL
    UNION ALL
    SELECT c.id, c.name, c.parent_id, ct.depth + 1,
           ct.path || ' > ' || c.name
    FROM categories c
    INNER JOIN category_tree ct ON c.parent_id = ct.id
)
SELECT id, name, parent_id, depth, path FROM category_tree ORDER BY path;

-- Sales ranking: window functions rank products by revenue within their
-- category and give each one's share of it.
SELECT
    p.id,
    p.name AS product_name,
    c.name AS category_name,
    COALESCE(SUM(oi.quantity), 0) AS units_sold,
    ROUND(COALESCE(SUM(oi.quantity * oi.unit_price), 0), 2) AS revenue,
    RANK() OVER (
        PARTITION BY p.category_id
        ORDER BY COALESCE(SUM(oi.quantity * oi.unit_price), 0) DESC
    ) AS category_rank,
    ROUND(COALESCE(SUM(oi.quantity * oi.unit_price), 0) * 100.0 /
        NULLIF(SUM(SUM(oi.quantity * oi.unit_price))
               OVER (PARTITION BY p.category_id), 0), 1)
        AS category_percentage
FROM products p
LEFT JOIN categories c ON p.category_id = c.id
LEFT JOIN order_items oi ON p.id = oi.product_id
LEFT JOIN orders o ON oi.order_id = o.id AND o.status != 'cancelled'
WHERE p.active = 1
GROUP BY p.id, p.name, c.name, p.category_id
ORDER BY c.name, category_rank, p.id;
