"""Reinforcement learning on Gymnasium environments: DQN (more to come), from the command line."""
