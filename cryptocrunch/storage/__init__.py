"""Storage: one module per resource, each owning its tables' writes and reads. Callers own the
transaction (one per collection cycle) and import the module they need
(``from ..storage import ticks``), so a reader sees which table a call touches."""
