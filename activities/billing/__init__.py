"""Money: tariffs, the pricing engine, CDR pricing, billing accounts, invoices."""
