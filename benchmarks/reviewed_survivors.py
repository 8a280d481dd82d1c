"""Survivors of benchmarks/mutation_score.py read by a person, each with why it is harmless.

mutmut names a mutant by its function and number, so a name stays the same while its
function does; a changed function's survivors show up unreviewed until someone reads them
again. Survivors that a pattern explains (mutation_score.UNSEEN) are not repeated here.
"""

from typing import Dict

REASONS = {
    "message": "only the words of a log line, an error message or the lock file's note for "
               "people change (None, another number or a timestamp format in them); what the "
               "run does is the same",
    "argparse_default": "argparse's own default (type str, default None) spelled out or left "
                        "out: the same option",
    "assigned_before_read": "an initial value every path replaces before reading it, or a "
                            "falsy one for another (None for False, a missing getattr default "
                            "for an attribute that always exists)",
    "bisection": "the bisection's starting bracket or its test at the exact target: the same "
                 "densities within its tolerance",
    "rounding_guard": "the densities are capped already; the count's own cap only guards "
                      "floating-point rounding, which no shape reached (checked up to 9e8 "
                      "entries)",
    "one_dim": "for a 1-D tensor sum(shape) / numel is 1.0 as well; prunable tensors have at "
               "least one dimension",
    "overwritten": "extra work whose result the next lines overwrite: entries still pruned "
                   "are filled and then zeroed, an unused sparsity 0 is masked, an empty "
                   "tensor hashes the same on every rank",
    "zero_state": "regrown entries' optimizer state is reset, but it is 0.0 already: pruned "
                  "entries' state stays exactly zero (test_optimizer_step)",
    "memory_only": "more memory, the same numbers (initial values kept though regrowth starts "
                   "from zero; gradients zeroed instead of freed)",
    "dtype_kept": "initial values are stored in their parameter's dtype, so casting to it is "
                  "a no-op",
    "torch_default": "torch.load's default since torch 2.6, the pinned versions' floor: "
                     "weights_only=True",
    "same_code_format": "a key of the state file renamed where it is written and where it is "
                        "read: only a file of another version would tell",
    "slow_only": "only a training through ESPnet's command line reaches it (the trainer's "
                 "options class, its tensorboard writer, the ranks' launcher, a dense or GAN "
                 "run through Trainer.run, a broken checkpoint at resume): the CLI tests run "
                 "it, the fast tests do not",
    "ties": "SNIP's scores of the fast tests' models have no ties, so the tie-break seed "
            "orders nothing there; random scoring's use of it is tested",
    "amp_only": "the AMP scaler: only a CUDA run under AMP has one",
    "device": "a device or map_location dropped: on the CPU, where the fast tests run, the "
              "same device",
    "encoding": "the text file's encoding left to the locale, UTF-8 on the machines that run "
                "the tests",
    "shift_clamp": "torch shifts an int32 right by 32 as by 31 (the sign in every bit), the "
                   "same key",
    "espnet_kwargs": "ESPnet's Trainer.run calls resume with keyword arguments only: *args "
                     "is always empty",
    "ddp": "what only a distributed run does (the ranks' digest of the factors): the two-rank "
           "CLI tests run it",
}

_BY_REASON = {
    "message": [
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_20",
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_25",
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_26",
        "lifecycle.xǁSniperǁprepare__mutmut_19",
        "lifecycle.xǁSniperǁprepare__mutmut_30",
        "masks.xǁScoreRankingǁ__init____mutmut_31",
        "rank_agreement.x_check_ranks_agree__mutmut_18",
        "registry.xǁRegistryǁ__init____mutmut_1",
        "run_lock.x_lock_output_dir__mutmut_24",
        "run_lock.x_lock_output_dir__mutmut_25",
        "run_lock.x_lock_output_dir__mutmut_31",
        "run_lock.x_lock_output_dir__mutmut_32",
        "run_lock.x_lock_output_dir__mutmut_33",
        "run_lock.x_remove_stale_temporaries__mutmut_9",
        "run_lock.x_remove_stale_temporaries__mutmut_10",
        "saved_epochs.x_keep_saved_epochs__mutmut_23",
        "scoring.xǁMagnitudeScorerǁscore__mutmut_1",
        "scoring.xǁRandomScorerǁscore__mutmut_1",
        "scoring.xǁSnipScorerǁscore__mutmut_1",
        "scoring.xǁSnipScorerǁscore__mutmut_2",
        "snip.x_snip_scores__mutmut_9",
        "snip.x_snip_scores__mutmut_40",
        "snip.x_snip_scores__mutmut_42",
        "snip.x_snip_scores__mutmut_82",
        "snip.x_snip_scores__mutmut_88",
        "snip.x_snip_scores__mutmut_111",
    ],
    "argparse_default": [
        "config_layouts.x_add_layout_arguments__mutmut_6",
        "config_layouts.x_add_layout_arguments__mutmut_17",
        "config_layouts.x_add_layout_arguments__mutmut_20",
        "config_layouts.x_add_layout_arguments__mutmut_21",
    ],
    "assigned_before_read": [
        "controller.xǁSniperControllerǁ__init____mutmut_20",
        "controller.xǁSniperControllerǁ__init____mutmut_22",
        "schedule.xǁSparsityScheduleǁsparsity_for_epoch__mutmut_7",
        "trainer_mixin.x__keep_saved_epochs__mutmut_4",
        "trainer_mixin.x__keep_saved_epochs__mutmut_7",
        "trainer_mixin.x__keep_saved_epochs__mutmut_10",
        "trainer_mixin.x__keep_saved_epochs__mutmut_11",
        "trainer_mixin.xǁSniperTrainerMixinǁbuild_options__mutmut_21",
        "trainer_mixin.xǁSniperTrainerMixinǁtrain_one_epoch__mutmut_19",
        "trainer_mixin.xǁSniperTrainerMixinǁrun__mutmut_6",
    ],
    "bisection": [
        "allocation.x_erk_densities__mutmut_43",
        "allocation.x_erk_densities__mutmut_50",
    ],
    "rounding_guard": ["allocation.x_erk_pruned__mutmut_24"],
    "one_dim": [
        "allocation.x_erk_raw_density__mutmut_4",
        "allocation.x_erk_raw_density__mutmut_7",
    ],
    "overwritten": [
        "controller.xǁSniperControllerǁset_sparsity__mutmut_36",
        "masks.xǁScheduleMasksǁ__init____mutmut_6",
        "tensor_digest.x_tensor_digest__mutmut_8",
        "tensor_digest.x_tensor_digest__mutmut_13",
        "kept_variance.x_kept_variance_factors__mutmut_22",
    ],
    "zero_state": ["controller.xǁSniperControllerǁset_sparsity__mutmut_56"],
    "memory_only": [
        "controller.xǁSniperControllerǁ__init____mutmut_8",
        "snip.x_snip_scores__mutmut_29",
        "snip.x_snip_scores__mutmut_30",
    ],
    "dtype_kept": [
        "controller.xǁSniperControllerǁset_sparsity__mutmut_44",
        "controller.xǁSniperControllerǁset_sparsity__mutmut_46",
    ],
    "torch_default": [
        "state.xǁSniperStateǁload__mutmut_6",
        "state.xǁSniperStateǁload__mutmut_9",
    ],
    "same_code_format": [
        "lifecycle.xǁSniperǁprepare__mutmut_8",
        "lifecycle.xǁSniperǁprepare__mutmut_9",
    ],
    "slow_only": [
        "gan_trainer.xǁSniperGANTrainerǁcheck_args__mutmut_8",
        "gan_trainer.xǁSniperGANTrainerǁcheck_args__mutmut_10",
        "trainer_mixin.xǁSniperTrainerMixinǁcheck_args__mutmut_1",
        "trainer_mixin.xǁSniperTrainerMixinǁtrain_one_epoch__mutmut_39",
        # a broken checkpoint or epoch file (the CLI kill tests), a dense or GAN run
        "trainer_mixin.xǁSniperTrainerMixinǁresume__mutmut_3",
        "trainer_mixin.xǁSniperTrainerMixinǁresume__mutmut_18",
        "trainer_mixin.xǁSniperTrainerMixinǁrun__mutmut_9",
        "trainer_mixin.xǁSniperTrainerMixinǁrun__mutmut_10",
        "trainer_mixin.xǁSniperTrainerMixinǁrun__mutmut_25",
        "trainer_mixin.xǁSniperTrainerMixinǁrun__mutmut_42",
        "trainer_mixin.xǁSniperTrainerMixinǁrun__mutmut_87",
        *(f"trainer_mixin.x_sniper_options__mutmut_{n}" for n in range(1, 14)),
    ],
    "ties": [
        "lifecycle.xǁSniperǁprepare__mutmut_46",
        "lifecycle.xǁSniperǁprepare__mutmut_54",
    ],
    "shift_clamp": ["masks.x__sort_keys__mutmut_7"],
    "amp_only": ["trainer_mixin.xǁSniperTrainerMixinǁtrain_one_epoch__mutmut_28"],
    "espnet_kwargs": ["trainer_mixin.xǁSniperTrainerMixinǁresume__mutmut_14"],
    "device": [
        "checkpoint_recovery.x_readable__mutmut_6",
        *(f"trainer_mixin.xǁSniperTrainerMixinǁrun__mutmut_{n}" for n in (45, 47, 48, 50)),
        "snip.x_snip_scores__mutmut_54",
        "snip.x_snip_scores__mutmut_56",
    ],
    "encoding": [
        "fileio.x__atomic_write__mutmut_16",
        "fileio.x__atomic_write__mutmut_18",
        "fileio.x__atomic_write__mutmut_19",
    ],
    "ddp": [
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_9",
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_11",
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_14",
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_15",
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_16",
        "controller.xǁSniperControllerǁ_kept_variance_factors__mutmut_17",
        "rank_agreement.x_check_ranks_agree__mutmut_7",
    ],
}
# mutant name (as mutmut writes it, with the package) -> REASONS key
REVIEWED: Dict[str, str] = {f"espnet_sniper.{name}": reason
                            for reason, names in _BY_REASON.items() for name in names}
