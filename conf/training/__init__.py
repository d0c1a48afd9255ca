"""Configs only ``deepprune train`` sees: ``judge=`` picks the judge network to train."""
