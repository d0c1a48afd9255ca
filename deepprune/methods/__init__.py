"""Pruning methods, one class each: cons@N, DeepConf-low/high (online), DeepConf offline voting, DeepPrune."""
